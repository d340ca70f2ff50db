public import Foundation

/// A duration as install bodies give it: seconds as a number (`30`, `0.5`) or text with units (`30s`, `500ms`,
/// `5m`, `1h`, `1m30s`), as Quadlet's `HealthInterval=` and podman's `--health-interval` take it.
public struct DurationText: Sendable, Hashable, Codable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// The duration as given.
    public var text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral value: String) { self.text = value }
    public init(integerLiteral value: Int) { self.text = String(value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let seconds = try? container.decode(Double.self) {
            guard seconds.isFinite else { throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a finite number of seconds") }
            text = seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int64(seconds)) : String(seconds)
        } else {
            text = try container.decode(String.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// Longest duration read: 30 days (longer is nil).
    public static let maxMilliseconds: Int64 = 30 * 86_400_000

    /// The duration in milliseconds, rounded down; nil when the text is not a duration, is negative or longer than
    /// 30 days.
    public var milliseconds: Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) {
            guard seconds.isFinite, seconds >= 0, seconds * 1000 <= Double(Self.maxMilliseconds) else { return nil }
            return Int64(seconds * 1000)
        }
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(trimmed)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number), value.isFinite else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                return nil
            }
            rest = rest.dropFirst(unit.count)
            total += value * scale
            guard total <= Double(Self.maxMilliseconds) else { return nil }
        }
        return Int64(total)
    }
}

/// What geard does when a container becomes unhealthy (`HealthOnFailure`).
public enum HealthAction: String, Sendable, Hashable, Codable, CaseIterable {
    case none, restart, kill, stop
}

/// Bounds of the health check fields, for every reader of them (the node's validation and `gear deploy`'s).
public enum HealthLimits {
    public static let minIntervalMs: Int64 = 1000
    public static let maxRetries = 100
}

/// An HTTP health check: `GET Path` on the container's `Port` (its internal port; published for the podman runtime)
/// from the node, healthy on a 2xx or 3xx answer.
public struct HealthHTTPCheck: Sendable, Hashable, Codable {
    public var port: Int
    /// Default `/`.
    public var path: String?

    public init(port: Int, path: String? = nil) {
        self.port = port
        self.path = path
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["port", "path"])
        guard let port = try object.decode(Int.self, "port") else {
            throw DecodingError.keyNotFound(AnyCodingKey("Port"), .init(codingPath: decoder.codingPath, debugDescription: "Port is required"))
        }
        self.port = port
        path = try object.decode(String.self, "path")
    }

    private enum CodingKeys: String, CodingKey { case port = "Port", path = "Path" }
}

/// A container's health as its checks last found it (`health` in status and list), while it runs.
public struct HealthStatus: Sendable, Hashable, Codable {
    /// `starting` (no check passed yet), `healthy`, or `unhealthy` (`failingStreak` reached the retries).
    public var status: String
    /// Failed checks in a row (those within the start period not counted).
    public var failingStreak: Int
    /// The last checks, oldest first (at most 5).
    public var log: [HealthCheckResult]

    public init(status: String, failingStreak: Int = 0, log: [HealthCheckResult] = []) {
        self.status = status
        self.failingStreak = failingStreak
        self.log = log
    }

    public static let starting = "starting", healthy = "healthy", unhealthy = "unhealthy"
}

/// One health check's outcome.
public struct HealthCheckResult: Sendable, Hashable, Codable {
    /// When it ended.
    public var time: Date
    public var healthy: Bool
    /// What it found: the command's output (at most 512 bytes), the HTTP status line, or why it failed.
    public var output: String
    public var durationMs: Int

    public init(time: Date, healthy: Bool, output: String, durationMs: Int) {
        self.time = time
        self.healthy = healthy
        self.output = output
        self.durationMs = durationMs
    }
}

extension HealthStatus {
    /// Writes this health as `GearJSON.encoder()` would.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("failingStreak")
        w.int(failingStreak)
        w.key("log")
        w.beginArray()
        for result in log {
            w.beginObject()
            w.key("durationMs")
            w.int(result.durationMs)
            w.key("healthy")
            w.bool(result.healthy)
            w.key("output")
            w.string(result.output)
            w.key("time")
            w.date(result.time)
            w.endObject()
        }
        w.endArray()
        w.key("status")
        w.string(status)
        w.endObject()
    }
}
