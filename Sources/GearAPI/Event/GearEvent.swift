public import Foundation

/// One entry of geard's event stream (`GET /events`): a container changed state, a job moved on, or a marker.
///
/// `seq` grows by one per event and survives geard restarts, so a client that reconnects with `?since=SEQ` (or
/// `Last-Event-ID`) gets exactly what it missed. Fields that do not apply to the event's type are absent.
public struct GearEvent: Sendable, Hashable, Codable {
    public var seq: UInt64
    public var time: Date
    public var type: EventType
    /// The container the event is about (container and job events).
    public var container: String?
    /// systemd's state of the container's unit when the event happened.
    public var activeState: String?
    public var subState: String?
    public var mainPID: Int?
    /// How the last run ended (`success`, `exit-code`, `signal`, ...) and its exit status or signal number.
    public var result: String?
    public var exitStatus: Int?
    /// How many times systemd restarted the unit by its `Restart=` policy.
    public var restarts: Int?
    /// The job of a `job.*` event, its kind, and why it failed.
    public var job: String?
    public var kind: String?
    public var error: String?
    /// A short explanation for people.
    public var message: String?
    /// For `gap`: the first and last sequence numbers the client can no longer get.
    public var missedFrom: UInt64?
    public var missedTo: UInt64?

    public init(seq: UInt64, time: Date, type: EventType, container: String? = nil) {
        self.seq = seq
        self.time = time
        self.type = type
        self.container = container
    }
}

/// What an event says happened: `container.started`, `job.failed`, ...
public struct EventType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    public var description: String { rawValue }

    /// Installed for the first time, or its definition replaced.
    public static let installed = EventType(rawValue: "container.installed")
    public static let starting = EventType(rawValue: "container.starting")
    public static let started = EventType(rawValue: "container.started")
    public static let stopping = EventType(rawValue: "container.stopping")
    public static let stopped = EventType(rawValue: "container.stopped")
    /// The main process failed (exit status, signal, timeout); `restarts` tells whether systemd retries.
    public static let failed = EventType(rawValue: "container.failed")
    /// The main process ended successfully and systemd will start it again (`Restart=always`).
    public static let exited = EventType(rawValue: "container.exited")
    /// systemd started the container again by its restart policy.
    public static let restarted = EventType(rawValue: "container.restarted")
    public static let deleted = EventType(rawValue: "container.deleted")
    /// A health check passed after the container started or after it was unhealthy; `message` holds its output.
    public static let healthy = EventType(rawValue: "container.healthy")
    /// Health checks failed `HealthRetries` times in a row; `message` holds the last one's output.
    public static let unhealthy = EventType(rawValue: "container.unhealthy")
    public static let jobQueued = EventType(rawValue: "job.queued")
    public static let jobRunning = EventType(rawValue: "job.running")
    public static let jobSucceeded = EventType(rawValue: "job.succeeded")
    public static let jobFailed = EventType(rawValue: "job.failed")
    /// geard started: state changes while it was down are reported after it as what it then found.
    public static let agentStarted = EventType(rawValue: "agent.started")
    /// The client asked for events older than geard still keeps (or fell that far behind): `missedFrom` to
    /// `missedTo` are gone. Not stored; sent only to the client concerned.
    public static let gap = EventType(rawValue: "gap")

    /// Every type, for validating filters.
    public static let all: [EventType] = [
        .installed, .starting, .started, .stopping, .stopped, .failed, .exited, .restarted, .deleted, .healthy, .unhealthy,
        .jobQueued, .jobRunning, .jobSucceeded, .jobFailed, .agentStarted, .gap,
    ]
}

extension GearEvent {
    /// Writes this event as `GearJSON.encoder()` would, but with microseconds in `time` (sorted keys, nil fields
    /// left out).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.optional("activeState", activeState) { $0.string($1) }
        w.optional("container", container) { $0.string($1) }
        w.optional("error", error) { $0.string($1) }
        w.optional("exitStatus", exitStatus) { $0.int($1) }
        w.optional("job", job) { $0.string($1) }
        w.optional("kind", kind) { $0.string($1) }
        w.optional("mainPID", mainPID) { $0.int($1) }
        w.optional("message", message) { $0.string($1) }
        w.optional("missedFrom", missedFrom) { $0.int($1) }
        w.optional("missedTo", missedTo) { $0.int($1) }
        w.optional("restarts", restarts) { $0.int($1) }
        w.optional("result", result) { $0.string($1) }
        w.key("seq")
        w.int(seq)
        w.optional("subState", subState) { $0.string($1) }
        w.key("time")
        w.timestamp(microseconds: Int64((time.timeIntervalSince1970 * 1_000_000).rounded()), fractionDigits: 6)
        w.key("type")
        w.string(type.rawValue)
        w.endObject()
    }
}
