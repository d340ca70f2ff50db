import Foundation
import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// `GET /events`: container and job events as NDJSON or server-sent events, from a sequence number on, followed.
struct EventRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/events", .eventsRead, use: events)
    }

    @Sendable func events(_ request: Request, context: GearRequestContext) async throws -> Response {
        let query = try EventQuery(request)
        let scope = context.authorization.scope
        let types = query.types
        let patterns = query.containers
        let log = agent.events
        // Without `since`, the stream starts with what happens after this request arrived.
        let since = query.since ?? log.lastSeq
        let include: @Sendable (EventLog.Entry) -> Bool = { entry in
            if let types, !types.contains(entry.type) { return false }
            guard let container = entry.container else { return true }
            return scope.contains(container) && (patterns?.contains(container) ?? true)
        }
        var headers: HTTPFields = [.contentType: query.sse ? "text/event-stream" : "application/x-ndjson", .cacheControl: "no-store"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if query.sse { headers[HTTPField.Name("X-Accel-Buffering")!] = "no" }
        let live = context.liveConnection
        let sse = query.sse
        let follow = query.follow
        // A follow is a long-lived stream: counted against the caller's, and an idle SSE one sends keep-alives.
        let ticket = follow ? try StreamAdmission.enter() : nil
        let heartbeat = sse && follow ? StreamAdmission.keepAliveInterval : nil
        let body = ResponseBody { writer in
            var subscription = EventSubscription(log: log, since: since, follow: follow, include: include)
            Self.openStreams.increment()
            defer { Self.openStreams.decrement() }
            if live && follow {
                // A follower waiting for the next event would not notice a client that went away: end it when
                // the connection's inbound side closes.
                // A follow also ends, cleanly, when geard shuts down.
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await FollowShutdown.untilShutdown { try await Self.pump(&subscription, sse: sse, heartbeat: heartbeat, &writer) }
                }
            } else {
                try await Self.pump(&subscription, sse: sse, heartbeat: heartbeat, &writer)
            }
            withExtendedLifetime(ticket) {}
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Event streams being written now.
    static let openStreams = Meter(label: "gear_event_streams_open")

    /// Writes each batch as it comes; awaiting the write is the backpressure (the reader's position stays where
    /// it is while the client is slow, and the node never waits for it).
    static func pump(
        _ subscription: inout EventSubscription, sse: Bool, heartbeat: Duration? = nil, _ writer: inout some ResponseBodyWriter
    ) async throws {
        while let entries = await subscription.next(heartbeat: heartbeat) {
            if entries.isEmpty {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                continue
            }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(entries.reduce(0) { $0 + $1.json.count + 48 })
            for entry in entries {
                if sse {
                    buffer.writeString("id: \(entry.seq)\nevent: \(entry.type.rawValue)\ndata: ")
                    buffer.writeBytes(entry.json)
                    buffer.writeString("\n\n")
                } else {
                    buffer.writeBytes(entry.json)
                    buffer.writeInteger(UInt8(ascii: "\n"))
                }
            }
            try await writer.write(buffer)
        }
    }
}

/// The parameters of `GET /events`.
struct EventQuery {
    var since: UInt64?
    var follow: Bool
    var sse: Bool
    /// The event types wanted (nil: all).
    var types: Set<EventType>?
    /// The containers wanted (nil: all the caller may see).
    var containers: ContainerScope?

    init(_ request: Request) throws(GearError) {
        let parameters = request.uri.queryParameters
        var since = parameters.get("since")
        if since == nil, let last = request.headers[LogRoutes.lastEventID], !last.isEmpty { since = last }
        if let since {
            guard let value = UInt64(since) else {
                throw GearError(.invalidRequest, "since (or Last-Event-ID) must be an event sequence number, not '\(since.prefix(40))'")
            }
            self.since = value
        }
        follow = try QueryFlags.bool(request, "follow") ?? true
        if let format = parameters.get("format") {
            switch format.lowercased() {
            case "ndjson", "json", "jsonl": sse = false
            case "sse", "event-stream": sse = true
            default: throw GearError(.invalidRequest, "format must be ndjson or sse, not '\(format.prefix(40))'")
            }
        } else {
            sse = request.headers[.accept]?.lowercased().contains("text/event-stream") ?? false
        }
        if let list = parameters.get("type") {
            types = try Self.types(list)
        }
        if let list = parameters.get("id") {
            let patterns = list.split(separator: ",").map(String.init)
            for pattern in patterns where !ContainerScope.isValidPattern(pattern) {
                throw GearError(.invalidRequest, "id must be container ids or patterns with * and ?, not '\(pattern.prefix(40))'")
            }
            guard !patterns.isEmpty else { throw GearError(.invalidRequest, "id must name at least one container or pattern") }
            containers = .patterns(patterns)
        }
    }

    /// `container.started,job.*,container`: exact types, or a family (`container`, `job`) with or without `.*`.
    static func types(_ list: String) throws(GearError) -> Set<EventType> {
        var wanted: Set<EventType> = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let family = item.hasSuffix(".*") ? String(item.dropLast(2)) : item
            let members = EventType.all.filter { $0.rawValue == item || $0.rawValue.hasPrefix(family + ".") }
            guard !members.isEmpty else {
                throw GearError(
                    .invalidRequest,
                    "unknown event type '\(item.prefix(40))'; types are \(EventType.all.map(\.rawValue).joined(separator: ", ")), or container.* and job.*"
                )
            }
            wanted.formUnion(members)
        }
        guard !wanted.isEmpty else { throw GearError(.invalidRequest, "type must name at least one event type") }
        return wanted
    }
}
