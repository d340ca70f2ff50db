import Foundation
import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// `GET /container/{id}/exec?cmd=...` upgraded to a WebSocket: the interactive exec (a terminal, stdin, resizes,
/// the exit code at the end), in the channel scheme `ExecChannel` describes.
///
/// The upgrade request is checked, authorized (`container.exec`) and audited as every request, and the command
/// is prepared, before the connection changes protocol: a refusal is an ordinary JSON error. geard pings an idle
/// socket every `pingInterval` and closes one that has said nothing for `silenceLimit`; a socket that closes, or a
/// client that breaks the protocol, ends the command (its whole process group).
extension ExecRoutes {
    static let pingInterval = Duration.seconds(30)
    static let silenceLimit = Duration.seconds(75)

    @Sendable func interactive(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try ContainerID(context.pathParameter("id"))
        if request.headers[HTTPField.Name(UpgradeGuard.declined)!] != nil {
            throw GearError(
                .invalidRequest, "a WebSocket upgrade needs Upgrade: websocket, Sec-WebSocket-Key and Sec-WebSocket-Version: 13")
        }
        guard request.headers[.upgrade]?.lowercased().contains("websocket") == true else {
            let message =
                "GET /container/{id}/exec is the interactive exec over a WebSocket (Upgrade: websocket); POST /container/{id}/exec runs a command without one"
            // HTTP/2 has no upgrade to ask for: a client there must come back over HTTP/1.1.
            if context.http2 {
                throw GearError(.invalidRequest, message + "; over HTTPS, negotiate http/1.1 for it, not h2")
            }
            throw UpgradeRequired(message: message)
        }
        guard let slot = WebSocketSlot.current else {
            throw GearError(
                .invalidRequest,
                "a WebSocket upgrade must be the first request of an HTTP/1.1 connection (over HTTPS: negotiate http/1.1, not h2)")
        }
        guard (request.uri.query?.utf8.count ?? 0) <= InteractiveExecRequest.maxQueryBytes else {
            throw GearError(.invalidRequest, "the query is longer than \(InteractiveExecRequest.maxQueryBytes) bytes")
        }
        let parsed: InteractiveExecRequest
        do {
            parsed = try InteractiveExecRequest(queryItems: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            throw GearError(.invalidRequest, error.description)
        }
        let options = InteractiveOptions(stdin: parsed.stdin, tty: parsed.exec.tty == true, size: parsed.size)
        let ticket = try StreamAdmission.enter()
        let session = try await agent.exec(id, parsed.exec, interactive: options)
        context.logger.notice(
            "exec",
            metadata: [
                "container.id": "\(id)", "exec.cmd": "\(parsed.exec.cmd.map { $0.debugDescription }.joined(separator: " "))",
                "exec.interactive": "\(options.tty ? "tty" : options.stdin ? "stdin" : "output")", "caller": "\(context.caller)",
                "request.id": "\(context.requestID)",
            ])
        slot.accept { socket, logger in
            await Self.serve(socket, session, options, logger: logger)
            withExtendedLifetime(ticket) {}
        }
        return Response(status: .switchingProtocols)
    }

    /// What the socket's tasks share: when the client was last heard, and how it broke the protocol.
    final class SocketState: Sendable {
        let lastHeard = Atomic<Int64>(ExecRoutes.now())
        let violation = Mutex<ProtocolViolation?>(nil)
    }

    /// A client that broke the channel protocol: the close code and reason geard answers with.
    struct ProtocolViolation: Error {
        var code: WebSocketErrorCode
        var reason: String
    }

    /// Runs the session over the socket until the command ends (then its exit on channel 3 and a normal close) or
    /// the client goes.
    static func serve(
        _ socket: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, _ session: ExecSession, _ options: InteractiveOptions, logger: Logger
    ) async {
        let state = SocketState()
        do {
            try await socket.executeThenClose { inbound, outbound in
                let input = inbound.compactMap { frame throws -> ExecInput? in
                    state.lastHeard.store(Self.now(), ordering: .relaxed)
                    do {
                        return try await Self.input(frame, outbound)
                    } catch let error as ProtocolViolation {
                        state.violation.withLock { $0 = error }
                        throw error
                    }
                }
                let exit = try await withThrowingTaskGroup(of: ExecExit?.self) { group in
                    group.addTask {
                        try await session.runInteractive(options, input: input) { output in
                            switch output {
                            case .stdout(let bytes): try await outbound.write(Self.message(.stdout, bytes))
                            case .stderr(let bytes): try await outbound.write(Self.message(.stderr, bytes))
                            }
                        }
                    }
                    group.addTask {
                        // Pings while the command runs; silence past the limit ends the session.
                        while true {
                            try await Task.sleep(for: pingInterval)
                            if Self.now() - state.lastHeard.load(ordering: .relaxed) > Int64(silenceLimit / .nanoseconds(1)) {
                                state.violation.withLock { $0 = ProtocolViolation(code: .goingAway, reason: "no answer to pings") }
                                return nil
                            }
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()))
                        }
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
                if let problem = state.violation.withLock({ $0 }) {
                    try? await outbound.write(Self.close(problem.code, problem.reason))
                    return
                }
                if let exit {
                    let frame = ExecFrame(stream: "exit", exitCode: exit.exitCode, signal: exit.signal, error: exit.timedOut ? "timeout" : nil)
                    try await outbound.write(Self.message(.exit, Array((try? GearJSON.encoder().encode(frame)) ?? Data())))
                    try await outbound.write(Self.close(.normalClosure, ""))
                }
            }
        } catch {
            logger.debug("interactive exec ended", metadata: ["error": "\(error)"])
        }
    }

    /// What a client's frame means: input for the command, or nothing (pongs); pings are answered here. The end of
    /// the socket (a close frame) ends the input.
    static func input(_ frame: WebSocketFrame, _ outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> ExecInput? {
        switch frame.opcode {
        case .binary:
            var data = frame.unmaskedData
            guard let byte = data.readInteger(as: UInt8.self), let channel = ExecChannel(rawValue: byte) else {
                throw ProtocolViolation(code: .policyViolation, reason: "a message starts with its channel: 0 stdin, 4 resize, 255 close stdin")
            }
            switch channel {
            case .stdin:
                return .stdin(Array(data.readableBytesView))
            case .resize:
                guard let size = try? JSONDecoder().decode(TerminalSize.self, from: Data(data.readableBytesView)), size.isValid else {
                    throw ProtocolViolation(code: .policyViolation, reason: #"a resize is {"Width":W,"Height":H}, 1 to 10000 each"#)
                }
                return .resize(size)
            case .close:
                guard data.readableBytesView.elementsEqual([ExecChannel.stdin.rawValue]) else {
                    throw ProtocolViolation(code: .policyViolation, reason: "channel 255 closes stdin: [255, 0]")
                }
                return .closeStdin
            case .stdout, .stderr, .exit:
                throw ProtocolViolation(code: .policyViolation, reason: "channels 1, 2 and 3 are geard's")
            }
        case .ping:
            try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
            return nil
        case .pong:
            return nil
        case .connectionClose:
            throw CancellationError()
        default:
            throw ProtocolViolation(code: .unacceptableData, reason: "binary messages only")
        }
    }

    static func message(_ channel: ExecChannel, _ bytes: [UInt8]) -> WebSocketFrame {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes.count + 1)
        buffer.writeInteger(channel.rawValue)
        buffer.writeBytes(bytes)
        return WebSocketFrame(fin: true, opcode: .binary, data: buffer)
    }

    static func close(_ code: WebSocketErrorCode, _ reason: String) -> WebSocketFrame {
        var buffer = ByteBuffer()
        buffer.write(webSocketErrorCode: code)
        buffer.writeString(String(reason.utf8.prefix(120)) ?? "")
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
    }

    static let epoch = ContinuousClock.now
    static func now() -> Int64 { Int64(epoch.duration(to: .now) / .nanoseconds(1)) }
}
