internal import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// An error from sd-bus or from the peer on the other side of the bus.
///
/// Either a local failure (`errno` set, from a negative libsystemd return code) or a D-Bus error reply
/// (`name` set, e.g. `org.freedesktop.systemd1.NoSuchUnit`). Equality is on the code.
public struct BusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A libsystemd call returned a negative errno.
        public static let system = Code(rawValue: "system")
        /// The peer answered with a D-Bus error (see `name`).
        public static let remote = Code(rawValue: "remote")
        /// There is no bus connection right now (it went away and is being re-established).
        public static let disconnected = Code(rawValue: "disconnected")
        /// The connection was closed for good.
        public static let closed = Code(rawValue: "closed")
        /// A reply did not have the expected shape.
        public static let unexpectedReply = Code(rawValue: "unexpectedReply")
    }

    /// The kind of failure.
    public var code: Code
    /// The D-Bus error name for `.remote` errors.
    public var name: String?
    /// The errno for `.system` errors.
    public var errno: Int32?
    /// A human-readable message.
    public var message: String

    public init(code: Code, name: String? = nil, errno: Int32? = nil, message: String) {
        self.code = code
        self.name = name
        self.errno = errno
        self.message = message
    }

    public static func == (lhs: BusError, rhs: BusError) -> Bool {
        lhs.code == rhs.code && lhs.name == rhs.name && lhs.errno == rhs.errno
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(name)
        hasher.combine(errno)
    }

    public var description: String {
        switch code {
        case .remote: "\(name ?? "D-Bus error"): \(message)"
        case .system: "\(message): \(String(cString: strerror(errno ?? 0)))"
        default: message
        }
    }

    /// True when the peer said the unit, job or object does not exist.
    public var isNoSuchObject: Bool {
        switch name {
        case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.NoSuchJob",
            "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.systemd1.LoadFailed":
            true
        default: false
        }
    }
}

/// Turns a libsystemd return code into a thrown `BusError`; every call into sd-bus goes through here.
@discardableResult
func busCheck(_ result: Int32, _ what: @autoclosure () -> String) throws(BusError) -> Int32 {
    if result < 0 {
        throw BusError(code: .system, errno: -result, message: what())
    }
    return result
}
