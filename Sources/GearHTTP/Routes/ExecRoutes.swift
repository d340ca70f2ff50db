import Foundation
import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `POST /container/{id}/exec`: a command inside a running container, its output streamed as it comes.
///
/// NDJSON (`application/x-ndjson`, the default): `{"stream":"stdout","data":...}` and `{"stream":"stderr",...}` frames
/// as the command writes, then `{"stream":"exit","exitCode":N}` (or `"signal"`, and `"error":"timeout"`). With
/// `Accept: text/plain` (or `?format=text`): stdout and stderr as raw bytes, interleaved, without the exit (NDJSON
/// tells it). The command is killed (its whole process group) when the client goes away or its `Timeout` passes.
struct ExecRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.post, "/container/{id}/exec", .containerExec, target: .container, use: exec)
        routes.on(.get, "/container/{id}/exec", .containerExec, target: .container, use: interactive)
    }

    @Sendable func exec(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try ContainerID(context.pathParameter("id"))
        // Collected so that the body can still tell when the client goes away (`consumeWithCancellationOnInboundClose`).
        var request = request
        let body = try await request.collectBody(upTo: GearAPI.maxJSONBodySize)
        guard body.readableBytes > 0 else {
            throw GearError(.invalidRequest, #"a JSON body is required, e.g. {"Cmd":["ls","-l","/data"]}"#)
        }
        let exec = try GearJSON.decoder().decode(ExecRequest.self, from: Data(body.readableBytesView))
        let ticket = try StreamAdmission.enter()
        let session = try await agent.exec(id, exec)
        // The audit trail of what was run, and by whom (the authorizer recorded the decision itself).
        context.logger.notice(
            "exec",
            metadata: [
                "container.id": "\(id)", "exec.cmd": "\(exec.cmd.map { $0.debugDescription }.joined(separator: " "))",
                "caller": "\(context.caller)", "request.id": "\(context.requestID)",
            ])
        let raw = JSONResponse.wantsText(request)
        var headers: HTTPFields = [.contentType: raw ? "application/octet-stream" : "application/x-ndjson", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        let live = context.liveConnection
        let finalRequest = request
        let responseBody = ResponseBody { writer in
            if live {
                // A client that goes away ends the command: the task is cancelled, the process group killed.
                try await finalRequest.body.consumeWithCancellationOnInboundClose { _ in try await Self.pump(session, raw: raw, &writer) }
            } else {
                try await Self.pump(session, raw: raw, &writer)
            }
            withExtendedLifetime(ticket) {}
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: responseBody)
    }

    /// Runs the command, writing its output as it comes; awaiting each write is the backpressure.
    static func pump(_ session: ExecSession, raw: Bool, _ writer: inout some ResponseBodyWriter) async throws {
        let exit = try await session.run { output in try await writer.write(Self.frame(output, raw: raw)) }
        if !raw { try await writer.write(Self.exitFrame(exit)) }
    }

    static func frame(_ output: ExecOutput, raw: Bool) -> ByteBuffer {
        let (stream, bytes): (String, [UInt8]) =
            switch output {
            case .stdout(let bytes): ("stdout", bytes)
            case .stderr(let bytes): ("stderr", bytes)
            }
        if raw { return ByteBuffer(bytes: bytes) }
        let text = String(decoding: bytes, as: UTF8.self)
        let exact = Array(text.utf8) == bytes
        return line(ExecFrame(stream: stream, data: text, dataBase64: exact ? nil : Data(bytes).base64EncodedString()))
    }

    static func exitFrame(_ exit: ExecExit) -> ByteBuffer {
        line(ExecFrame(stream: "exit", exitCode: exit.exitCode, signal: exit.signal, error: exit.timedOut ? "timeout" : nil))
    }

    static func line(_ frame: ExecFrame) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: (try? GearJSON.encoder().encode(frame)) ?? Data())
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}
