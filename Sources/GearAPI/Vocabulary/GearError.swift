/// An error of the agent: a stable code, a message for people. Transport layers map codes to their own terms
/// (GearHTTP maps them to status codes in one place).
public struct GearError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; equality of errors is equality of codes. An enum, so that every transport's
    /// mapping of codes (HTTP statuses) is a switch without a default: a new code does not compile until mapped.
    public enum Code: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        public var description: String { rawValue }

        /// A container id that is not allowed.
        case invalidID = "invalid_id"
        /// A request whose content is not acceptable (field values, combinations).
        case invalidRequest = "invalid_request"
        /// A request id that is not 32 hex characters or a UUID.
        case invalidRequestID = "invalid_request_id"
        /// No such container or job.
        case notFound = "not_found"
        /// An external port that another container holds.
        case portConflict = "port_conflict"
        /// An external port that a process other than a gear container listens on: taken until that process lets
        /// it go, so a deploy places the container on another port instead of retrying this one.
        case portInUse = "port_in_use"
        /// No free port left in the configured range.
        case portsExhausted = "ports_exhausted"
        /// An install with `IfFits` would take more memory or CPUs than the node has left.
        case insufficientCapacity = "insufficient_capacity"
        /// A request id reused for a different request.
        case requestIDConflict = "request_id_conflict"
        /// The job queue is full; retry later.
        case queueFull = "queue_full"
        /// geard is shutting down and takes no new jobs.
        case shuttingDown = "shutting_down"
        /// The container's unit failed to reach the requested state.
        case unitFailed = "unit_failed"
        /// A container with a health check that became unhealthy (or never healthy) while a start waited for it.
        case unhealthy = "unhealthy"
        /// systemd cannot be reached over D-Bus right now.
        case systemdUnavailable = "systemd_unavailable"
        /// systemd refused or failed a call.
        case systemdError = "systemd_error"
        /// A job was cut off by a geard restart.
        case interrupted = "interrupted"
        /// A job canceled by `DELETE /jobs/{id}`.
        case canceled = "canceled"
        /// No space left on the state directory's disk.
        case diskFull = "disk_full"
        /// A path that geard refuses to touch: outside a volume, through a symlink, not a regular file.
        case forbidden = "forbidden"
        /// The target is in a state that does not allow this (a directory where a file should be, not empty).
        case conflict = "conflict"
        /// A body larger than a configured limit.
        case tooLarge = "too_large"
        /// An upload whose content does not match the digest the client sent.
        case digestMismatch = "digest_mismatch"
        /// A byte range outside the file.
        case rangeNotSatisfiable = "range_not_satisfiable"
        /// Anything else.
        case `internal` = "internal"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func == (lhs: GearError, rhs: GearError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    public var description: String { "\(code): \(message)" }

    package static func invalid(_ message: String) -> GearError { GearError(.invalidRequest, message) }
}

#if canImport(Glibc)
    import Glibc
#endif

extension GearError {
    /// A system call that failed with `errno` while doing `operation` (`write /var/lib/gear/x`): `.diskFull` when
    /// the disk or the quota is full, `.internal` otherwise.
    public init(systemCall operation: String, errno code: Int32) {
        let reason = String(cString: strerror(code))
        self.init(code == ENOSPC || code == EDQUOT ? .diskFull : .internal, "\(operation): \(reason)")
    }
}
