import Foundation
import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import NIOCore
import SystemdJournal

/// `GET /container/{id}/log`: a container's journal as text, NDJSON or server-sent events, optionally followed.
struct LogRoutes {
    let agent: NodeAgent

    func register(on router: Router<GearRequestContext>) {
        router.get("/container/:id/log", use: log)
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    @Sendable func log(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try ContainerID(context.parameters.get("id") ?? "")
        let (format, followByAccept) = try LogFormat.negotiate(request)
        let parameters = request.uri.queryParameters
        let follow = try QueryFlags.bool(request, "follow") ?? followByAccept
        var cursor = parameters.get("cursor")
        if cursor == nil, let last = request.headers[Self.lastEventID], !last.isEmpty { cursor = last }
        let query = try LogQuery(
            lines: parameters.get("lines"), since: parameters.get("since"), until: parameters.get("until"), cursor: cursor, follow: follow)
        let stream = try await agent.log(id, query: query, fields: format.fields)

        var headers: HTTPFields = [.contentType: format.contentType, .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if format == .sse { headers[HTTPField.Name("X-Accel-Buffering")!] = "no" }
        let live = context.liveConnection
        let body = ResponseBody { writer in
            if live && query.follow {
                // A follower that has nothing to send would not notice a client that went away: end it when
                // the connection's inbound side closes.
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await Self.pump(stream, format, &writer)
                }
            } else {
                try await Self.pump(stream, format, &writer)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

extension LogRoutes {
    /// Writes the stream's batches as they come. Awaiting each write is the backpressure: nothing more is read
    /// from the journal while the client is slow.
    static func pump(_ stream: LogStream, _ format: LogFormat, _ writer: inout some ResponseBodyWriter) async throws {
        var buffer = ByteBuffer()
        while let entries = try await stream.next() {
            buffer.clear()
            for entry in entries { format.write(entry, to: &buffer) }
            try await writer.write(buffer)
        }
    }
}

/// How log entries are written.
enum LogFormat: Sendable, Equatable {
    /// One line per entry: the message as the journal holds it.
    case text
    /// One JSON object per line: timestamp, cursor, priority, pid, message.
    case ndjson
    /// Server-sent events: `id:` is the cursor (an EventSource reconnect resumes), `data:` the JSON object.
    case sse

    var contentType: String {
        switch self {
        case .text: "text/plain; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        case .sse: "text/event-stream"
        }
    }

    var fields: JournalFields { self == .text ? [] : .all }

    /// `?format=text|ndjson|json|sse`, else the first type of `Accept` that is one of ours; geard's
    /// `;stream=true` parameter asks to follow. Default text.
    static func negotiate(_ request: Request) throws(GearError) -> (LogFormat, follow: Bool) {
        if let name = request.uri.queryParameters.get("format") {
            switch name.lowercased() {
            case "text", "plain": return (.text, false)
            case "ndjson", "json", "jsonl": return (.ndjson, false)
            case "sse", "event-stream": return (.sse, false)
            default: throw GearError(.invalidRequest, "format must be text, ndjson or sse, not '\(name.prefix(40))'")
            }
        }
        guard let accept = request.headers[.accept] else { return (.text, false) }
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            let stream = parts.dropFirst().contains("stream=true")
            switch type {
            case "text/event-stream": return (.sse, stream)
            case "application/x-ndjson", "application/jsonl", "application/json": return (.ndjson, stream)
            case "text/plain", "text/*", "*/*": return (.text, stream)
            default: continue
            }
        }
        return (.text, false)
    }

    func write(_ entry: JournalEntry, to buffer: inout ByteBuffer) {
        switch self {
        case .text:
            buffer.writeBytes(entry.message)
            buffer.writeInteger(UInt8(ascii: "\n"))
        case .ndjson:
            Self.writeJSON(entry, to: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        case .sse:
            buffer.writeString("id: ")
            buffer.writeString(entry.cursor)
            buffer.writeString("\ndata: ")
            Self.writeJSON(entry, to: &buffer)
            buffer.writeString("\n\n")
        }
    }

    /// `{"timestamp":...,"cursor":...,"priority":6,"pid":42,"message":...}`; when the message is not valid
    /// UTF-8, `message` holds it with U+FFFD replacements and `messageBase64` the exact bytes.
    static func writeJSON(_ entry: JournalEntry, to buffer: inout ByteBuffer) {
        buffer.writeString(#"{"timestamp":""#)
        buffer.writeBytes(RFC3339.bytes(microseconds: Int64(clamping: entry.realtime), fractionDigits: 6))
        buffer.writeString(#"","cursor":"#)
        JSONBytes.writeString(Array(entry.cursor.utf8), to: &buffer)
        if let priority = entry.priority {
            buffer.writeString(#","priority":"#)
            buffer.writeString(String(priority))
        }
        if let pid = entry.pid {
            buffer.writeString(#","pid":"#)
            buffer.writeString(String(pid))
        }
        buffer.writeString(#","message":"#)
        if JSONBytes.isValidUTF8(entry.message) {
            JSONBytes.writeString(entry.message, to: &buffer)
        } else {
            JSONBytes.writeString(Array(entry.text.utf8), to: &buffer)
            buffer.writeString(#","messageBase64":""#)
            buffer.writeString(Data(entry.message).base64EncodedString())
            buffer.writeInteger(UInt8(ascii: "\""))
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}

/// JSON strings from bytes that are known to be UTF-8.
enum JSONBytes {
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    static func writeString(_ bytes: [UInt8], to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var start = 0
        for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            buffer.writeBytes(bytes[start..<i])
            switch byte {
            case UInt8(ascii: "\""): buffer.writeString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeString("\\\\")
            case 0x0A: buffer.writeString("\\n")
            case 0x0D: buffer.writeString("\\r")
            case 0x09: buffer.writeString("\\t")
            default:
                buffer.writeString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xF)])
            }
            start = i + 1
        }
        buffer.writeBytes(bytes[start...])
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
