public import Foundation
public import GearAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

extension GearClient {
    /// What an interactive exec's connection became: a WebSocket, or geard's refusal as an HTTP answer.
    private enum Upgrade: Sendable {
        case socket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
    }

    /// The largest message geard sends that the client reads.
    static let maxWebSocketMessage = 1 << 20

    /// Runs a command inside a running container interactively (`GET /container/{id}/exec` as a WebSocket, on a
    /// connection of its own): `input` goes to the command (stdin, resizes, the end of stdin), its output to
    /// `output` as it comes (channel 1 stdout or the terminal, 2 stderr), and the answer is its exit frame. When
    /// `input` finishes, the client closes the socket and geard ends the command. A refusal throws geard's error
    /// (`GearClientError.api`).
    public func execInteractive(
        _ id: String, _ request: InteractiveExecRequest, input: some AsyncSequence<ExecInput, Never> & Sendable,
        output: @escaping @Sendable (ExecChannel, [UInt8]) async throws -> Void
    ) async throws -> ExecFrame {
        let requestID = Self.freshRequestID()
        let upgrade = try await connectWebSocket(path: "/container/\(id)/exec?\(request.query)", requestID: requestID)
        switch upgrade {
        case .refused(let http):
            throw try await http.executeThenClose { inbound, _ in
                var status = 0
                var headers: [(String, String)] = []
                var body = Data()
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        status = Int(head.status.code)
                        headers = head.headers.map { ($0.name, $0.value) }
                    case .body(let buffer):
                        guard body.count + buffer.readableBytes <= 1 << 20 else { break }
                        body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        break
                    }
                    if case .end = part { break }
                }
                return GearClientError.from(Answer(status: status, headers: headers, body: body, requestID: requestID))
            }
        case .socket(let socket):
            return try await socket.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: ExecFrame?.self) { group in
                    group.addTask {
                        for await message in input {
                            var buffer = ByteBuffer()
                            switch message {
                            case .stdin(let bytes):
                                buffer.writeInteger(ExecChannel.stdin.rawValue)
                                buffer.writeBytes(bytes)
                            case .resize(let size):
                                buffer.writeInteger(ExecChannel.resize.rawValue)
                                buffer.writeBytes(try GearJSON.encoder().encode(size))
                            case .closeStdin:
                                buffer.writeBytes([ExecChannel.close.rawValue, ExecChannel.stdin.rawValue])
                            }
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: buffer))
                        }
                        var close = ByteBuffer()
                        close.write(webSocketErrorCode: .normalClosure)
                        try? await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: close))
                        // Waits for the exit, or for the socket's end.
                        try await Task.sleep(for: .seconds(3600 * 24 * 365))
                        return nil
                    }
                    group.addTask {
                        var exit: ExecFrame?
                        for try await frame in inbound {
                            switch frame.opcode {
                            case .binary:
                                var data = frame.unmaskedData
                                guard let byte = data.readInteger(as: UInt8.self), let channel = ExecChannel(rawValue: byte) else { continue }
                                if channel == .exit {
                                    exit = try GearJSON.decoder().decode(ExecFrame.self, from: Data(data.readableBytesView))
                                } else {
                                    try await output(channel, Array(data.readableBytesView))
                                }
                            case .ping:
                                try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                            case .connectionClose:
                                if let exit { return exit }
                                var data = frame.unmaskedData
                                let code = data.readWebSocketErrorCode().map { "\($0)" } ?? "no code"
                                let reason = data.readString(length: data.readableBytes) ?? ""
                                throw GearClientError.unreachable(
                                    endpoint: endpoint.description, reason: "geard closed the session (\(code))\(reason.isEmpty ? "" : ": \(reason)")"
                                )
                            default:
                                continue
                            }
                        }
                        if let exit { return exit }
                        throw GearClientError.unreachable(endpoint: endpoint.description, reason: "the connection closed before the command's exit")
                    }
                    defer { group.cancelAll() }
                    while let result = try await group.next() {
                        if let result { return result }
                    }
                    throw CancellationError()
                }
            }
        }
    }

    /// Connects (unix socket, TCP, or TLS offering only http/1.1) and sends the upgrade request.
    private func connectWebSocket(path: String, requestID: String) async throws -> Upgrade {
        let tls: NIOSSLContext?
        var hostName: String?
        switch endpoint {
        case .https(let host, _):
            guard let tlsFiles else { throw GearClientError.tls("an HTTPS endpoint needs the client's certificate") }
            var configuration = try Self.tlsConfiguration(tlsFiles)
            configuration.applicationProtocols = ["http/1.1"]
            tls = try NIOSSLContext(configuration: configuration)
            hostName = host
        case .http(let host, _):
            tls = nil
            hostName = host
        case .unix:
            tls = nil
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: hostName.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost")
        headers.add(name: GearAPI.requestIDHeader, value: requestID)
        if let bearerToken { headers.add(name: "Authorization", value: "Bearer \(bearerToken)") }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let serverName = hostName.flatMap { $0.first?.isNumber == true || $0.contains(":") ? nil : $0 }
        let initializer: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<Upgrade>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                }
                let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: Self.maxWebSocketMessage) { channel, response in
                    channel.eventLoop.makeCompletedFuture {
                        let echoed = response.headers.first(name: GearAPI.requestIDHeader)
                        guard echoed?.lowercased() == requestID else {
                            throw GearClientError.mismatchedRequestID(sent: requestID, received: echoed)
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 256, maxAccumulatedFrameSize: Self.maxWebSocketMessage))
                        return .socket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                    }
                }
                let upgrade = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                    upgradeRequestHead: head, upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            .refused(try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel))
                        }
                    })
                return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade))
            }
        }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(5))
        let negotiated: EventLoopFuture<Upgrade>
        do {
            switch endpoint {
            case .unix(let socketPath):
                negotiated = try await bootstrap.connect(unixDomainSocketPath: socketPath, channelInitializer: initializer)
            case .http(let host, let port), .https(let host, let port):
                negotiated = try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            }
        } catch {
            throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
        }
        do {
            return try await negotiated.get()
        } catch {
            throw GearClientError.unreachable(endpoint: endpoint.description, reason: "the WebSocket upgrade failed: \(error)")
        }
    }
}
