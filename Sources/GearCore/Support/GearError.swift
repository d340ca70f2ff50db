/// An error of the agent: a stable code, a message for people. Transport layers map codes to their own terms
/// (GearHTTP maps them to status codes in one place).
public struct GearError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; equality of errors is equality of codes.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A container id that is not allowed.
        public static let invalidID = Code(rawValue: "invalid_id")
        /// A request whose content is not acceptable (field values, combinations).
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// A request id that is not 32 hex characters or a UUID.
        public static let invalidRequestID = Code(rawValue: "invalid_request_id")
        /// No such container or job.
        public static let notFound = Code(rawValue: "not_found")
        /// An external port that another container or process already uses.
        public static let portConflict = Code(rawValue: "port_conflict")
        /// No free port left in the configured range.
        public static let portsExhausted = Code(rawValue: "ports_exhausted")
        /// A request id reused for a different request.
        public static let requestIDConflict = Code(rawValue: "request_id_conflict")
        /// The job queue is full; retry later.
        public static let queueFull = Code(rawValue: "queue_full")
        /// geard is shutting down and takes no new jobs.
        public static let shuttingDown = Code(rawValue: "shutting_down")
        /// The container's unit failed to reach the requested state.
        public static let unitFailed = Code(rawValue: "unit_failed")
        /// systemd cannot be reached over D-Bus right now.
        public static let systemdUnavailable = Code(rawValue: "systemd_unavailable")
        /// systemd refused or failed a call.
        public static let systemdError = Code(rawValue: "systemd_error")
        /// A job was cut off by a geard restart.
        public static let interrupted = Code(rawValue: "interrupted")
        /// No space left on the state directory's disk.
        public static let diskFull = Code(rawValue: "disk_full")
        /// A path that geard refuses to touch: outside a volume, through a symlink, not a regular file.
        public static let forbidden = Code(rawValue: "forbidden")
        /// The target is in a state that does not allow this (a directory where a file should be, not empty).
        public static let conflict = Code(rawValue: "conflict")
        /// A body larger than a configured limit.
        public static let tooLarge = Code(rawValue: "too_large")
        /// An upload whose content does not match the digest the client sent.
        public static let digestMismatch = Code(rawValue: "digest_mismatch")
        /// A byte range outside the file.
        public static let rangeNotSatisfiable = Code(rawValue: "range_not_satisfiable")
        /// Anything else.
        public static let `internal` = Code(rawValue: "internal")
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

    static func invalid(_ message: String) -> GearError { GearError(.invalidRequest, message) }
}
