import ArgumentParser
import GearCore
import GearHTTP

/// How much geard takes on: jobs, uploads, events, connections and long-lived streams, slow clients.
struct LimitOptions: ParsableArguments {
    @Option(name: .customLong("max-running-jobs"), help: "Jobs that run at once (on different containers).")
    var maxRunningJobs: Int = 32

    @Option(name: .customLong("max-queued-jobs"), help: "Jobs that may wait; beyond, requests get 503.")
    var maxQueuedJobs: Int = 1024

    @Option(name: .customLong("max-upload-size"), help: "The largest file one upload may store: bytes, or with K, M, G or T (binary).")
    var maxUploadSize: String = "16G"

    @Option(name: .customLong("volume-size-limit"), help: "The most the files of one volume may hold after an upload (K, M, G, T); none by default.")
    var volumeSizeLimit: String?

    @Option(name: .customLong("event-history"), help: "How many events GET /events keeps for clients that reconnect (?since=).")
    var eventHistory: Int = 10_000

    @Option(name: .customLong("max-connections"), help: "Open connections one listener keeps; past it new ones are closed at once.")
    var maxConnections: Int = 2048

    @Option(name: .customLong("max-connections-per-client"), help: "Open connections of one client address (TCP) per listener.")
    var maxConnectionsPerClient: Int = 256

    @Option(name: .customLong("header-timeout"), help: "Seconds a request's head may take from its first byte (slow clients are closed).")
    var headerTimeout: Double = 15

    @Option(
        name: .customLong("max-streams-per-client"),
        help: "Log follows, event follows and job waits one certificate identity may hold open at once (past it: 429).")
    var maxStreamsPerClient: Int = 64

    @Option(name: .customLong("max-local-streams"), help: "The same for all callers of one local listener (loopback, unix socket) together.")
    var maxLocalStreams: Int = 1024

    @Option(name: .customLong("sse-keepalive"), help: "Seconds between keep-alive comments on an idle followed server-sent event stream.")
    var sseKeepalive: Double = 15

    @Option(
        name: .customLong("min-upload-rate"),
        help: "Bytes a second an upload must send, measured over each --upload-rate-window; slower ones are cut (408).")
    var minUploadRate: Int = 1024

    @Option(name: .customLong("upload-rate-window"), help: "Seconds over which --min-upload-rate is measured.")
    var uploadRateWindow: Double = 30

    func validate() throws {
        guard FileLimits.size(maxUploadSize) != nil else { throw ValidationError("--max-upload-size must be a size like 512M or 16G") }
        if let volumeSizeLimit, FileLimits.size(volumeSizeLimit) == nil {
            throw ValidationError("--volume-size-limit must be a size like 512M or 16G")
        }
        guard maxRunningJobs > 0, maxQueuedJobs > 0 else { throw ValidationError("job limits must be positive") }
        guard maxConnections >= 1, maxConnectionsPerClient >= 1 else { throw ValidationError("connection limits must be positive") }
        guard maxStreamsPerClient >= 1, maxLocalStreams >= 1 else { throw ValidationError("stream limits must be positive") }
        guard minUploadRate >= 0, uploadRateWindow >= 1, uploadRateWindow <= 3600 else {
            throw ValidationError("--min-upload-rate must be 0 or more, --upload-rate-window 1 to 3600 seconds")
        }
        guard sseKeepalive >= 0.1, sseKeepalive <= 3600 else { throw ValidationError("--sse-keepalive must be 0.1 to 3600 seconds") }
        guard headerTimeout > 0, headerTimeout <= 3600 else { throw ValidationError("--header-timeout must be more than 0 and at most 3600 seconds") }
        guard (16...10_000_000).contains(eventHistory) else { throw ValidationError("--event-history must be 16 to 10000000 events") }
    }

    /// The agent's share: jobs, uploads, events.
    func apply(to configuration: inout AgentConfiguration) {
        configuration.maxRunningJobs = maxRunningJobs
        configuration.maxQueuedJobs = maxQueuedJobs
        configuration.eventHistory = eventHistory
        configuration.fileLimits = FileLimits(
            maxUploadBytes: FileLimits.size(maxUploadSize)!, volumeSizeLimit: volumeSizeLimit.flatMap(FileLimits.size))
    }

    var streams: StreamLimits {
        StreamLimits(
            perIdentity: maxStreamsPerClient, perLocalListener: maxLocalStreams, keepAliveInterval: .milliseconds(Int64(sseKeepalive * 1000)),
            minimumUploadRate: minUploadRate, uploadRateWindow: .milliseconds(Int64(uploadRateWindow * 1000)))
    }

    var connections: ConnectionLimits {
        ConnectionLimits(
            maxConnections: maxConnections, maxPerClient: maxConnectionsPerClient, headerTimeout: .milliseconds(Int64(headerTimeout * 1000)))
    }
}
