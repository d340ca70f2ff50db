import Foundation
import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// `GET /container/{id}/log`: a container's journal as text, NDJSON or server-sent events, optionally followed.
struct LogRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/container/{id}/log", .logsRead, target: .container, use: log)
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    @Sendable func log(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try ContainerID(context.pathParameter("id"))
        return try await Self.serve(request, context: context) { query, fields in try await agent.log(id, query: query, fields: fields) }
    }

    /// Answers a log request (`lines`, `since`, `until`, `cursor`, `follow`, the format by `Accept` or `format`)
    /// with the stream `open` makes for its query: a container's journal, or a run job's.
    static func serve(
        _ request: Request, context: GearRequestContext, forceFollow: Bool = false,
        open: @Sendable (LogQuery, LogFields) async throws -> LogStream
    ) async throws -> Response {
        let parameters = request.uri.queryParameters
        let format: LogFormat
        var query: LogQuery
        if context.geard {
            // geard's answer, which its client reads: the last 30 lines as text, then what comes for 30 seconds (202:
            // the answer streams), whatever the client's Accept says.
            format = .text
            query = try LogQuery(
                lines: parameters.get("lines") ?? "30", since: parameters.get("since"), until: nil, cursor: parameters.get("cursor"),
                follow: true)
        } else {
            let (negotiated, followByAccept) = try LogFormat.negotiate(request)
            format = negotiated
            let follow = try forceFollow || (QueryFlags.bool(request, "follow") ?? followByAccept)
            var cursor = parameters.get("cursor")
            if cursor == nil, let last = request.headers[Self.lastEventID], !last.isEmpty { cursor = last }
            query = try LogQuery(
                lines: parameters.get("lines"), since: parameters.get("since"), until: parameters.get("until"), cursor: cursor, follow: follow)
        }
        if context.geard { query.until = Date().addingTimeInterval(Self.geardFollowSeconds) }
        // A follow is a long-lived stream: counted against the caller's, and an idle SSE one sends keep-alives.
        let ticket = query.follow ? try StreamAdmission.enter() : nil
        let heartbeat = format == .sse && query.follow ? StreamAdmission.keepAliveInterval : nil
        let stream = try await open(query, format.fields)

        var headers: HTTPFields = [.contentType: format.contentType, .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if format == .sse { headers[HTTPField.Name("X-Accel-Buffering")!] = "no" }
        let live = context.liveConnection
        let follow = query.follow
        let body = ResponseBody { writer in
            Self.openStreams.increment()
            defer { Self.openStreams.decrement() }
            if live && follow {
                // A follower that has nothing to send would not notice a client that went away: end it when
                // the connection's inbound side closes.
                // A follow also ends, cleanly, when geard shuts down.
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await FollowShutdown.untilShutdown { try await Self.pump(stream, format, heartbeat: heartbeat, &writer) }
                }
            } else {
                try await Self.pump(stream, format, heartbeat: heartbeat, &writer)
            }
            withExtendedLifetime(ticket) {}
            try await writer.finish(nil)
        }
        return Response(status: context.geard ? .accepted : .ok, headers: headers, body: body)
    }

    /// How long geard's log answer follows the journal.
    static let geardFollowSeconds: TimeInterval = 30
}

extension LogRoutes {
    /// Log streams being written now (followed or not).
    static let openStreams = Meter(label: "gear_log_streams_open")

    /// Writes the stream's batches as they come. Awaiting each write is the backpressure: nothing more is read
    /// from the journal while the client is slow. With `heartbeat`, a comment goes out after that long without an
    /// entry (server-sent events only).
    static func pump(
        _ stream: LogStream, _ format: LogFormat, heartbeat: Duration? = nil, _ writer: inout some ResponseBodyWriter
    ) async throws {
        while let entries = try await stream.next(heartbeat: heartbeat) {
            if entries.isEmpty {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                continue
            }
            var batch = JSONWriter(capacity: LogStream.batchBytes + 64 * entries.count)
            for entry in entries { format.write(entry, to: &batch) }
            try await writer.write(ByteBuffer(bytes: batch.bytes))
        }
    }
}

/// How log entries are written.
enum LogFormat: Sendable, Equatable {
    /// One line per entry: the message as the journal holds it, ended by one line break.
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

    var fields: LogFields { self == .text ? [] : .all }

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

    func write(_ entry: LogRecord, to w: inout JSONWriter) {
        switch self {
        case .text:
            // One line break after each entry, as journalctl shows them: podman's journald driver (conmon) stores
            // each line with its own.
            w.raw(entry.message)
            if entry.message.last != UInt8(ascii: "\n") { w.raw(UInt8(ascii: "\n")) }
        case .ndjson:
            entry.writeJSON(to: &w)
            w.raw(UInt8(ascii: "\n"))
        case .sse:
            w.raw("id: ")
            w.raw(entry.cursor)
            w.raw("\ndata: ")
            entry.writeJSON(to: &w)
            w.raw("\n\n")
        }
    }
}
