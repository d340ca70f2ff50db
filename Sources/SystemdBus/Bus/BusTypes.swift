/// Where to reach systemd's D-Bus API.
public enum BusAddress: Sendable, Hashable, CustomStringConvertible {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS` or `/run/dbus/system_bus_socket`), through dbus-daemon.
    case system
    /// systemd's private peer-to-peer socket (root only): no dbus-daemon hop, works while dbus is down.
    case systemdPrivate(path: String = "/run/systemd/private")
    /// Any D-Bus address string, e.g. `unix:path=/run/dbus/system_bus_socket`; `busClient` says whether a
    /// bus daemon is on the other end (it answers `Hello` and routes matches).
    case address(String, busClient: Bool)

    public var description: String {
        switch self {
        case .system: "system bus"
        case .systemdPrivate(let path): "systemd private socket \(path)"
        case .address(let address, _): address
        }
    }
}

/// A method call to send over the bus.
public struct MethodCall: Sendable {
    public var destination: String?
    public var path: String
    public var interface: String?
    public var member: String
    public var arguments: [BusValue]
    /// How long to wait for the reply; nil is sd-bus's default (25 s).
    public var timeout: Duration?

    public init(
        destination: String? = "org.freedesktop.systemd1",
        path: String,
        interface: String?,
        member: String,
        arguments: [BusValue] = [],
        timeout: Duration? = nil
    ) {
        self.destination = destination
        self.path = path
        self.interface = interface
        self.member = member
        self.arguments = arguments
        self.timeout = timeout
    }
}

/// A signal received from the bus.
public struct BusSignal: Sendable {
    public var path: String
    public var interface: String
    public var member: String
    public var arguments: [BusValue]
}

/// Which signals a subscriber wants: the fields that are set must all match.
public struct SignalFilter: Sendable, Hashable {
    public var interface: String?
    public var member: String?
    /// Match this object path and every path below it.
    public var pathNamespace: String?

    public init(interface: String? = nil, member: String? = nil, pathNamespace: String? = nil) {
        self.interface = interface
        self.member = member
        self.pathNamespace = pathNamespace
    }

    /// The D-Bus match rule for this filter.
    var matchRule: String {
        var parts = ["type='signal'"]
        if let interface { parts.append("interface='\(interface)'") }
        if let member { parts.append("member='\(member)'") }
        if let pathNamespace { parts.append("path_namespace='\(pathNamespace)'") }
        return parts.joined(separator: ",")
    }
}

/// How a systemd job ended, from the `JobRemoved` signal.
public struct JobCompletion: Sendable, Hashable {
    /// systemd's job id.
    public var id: UInt32
    /// The job's object path.
    public var path: String
    /// The unit the job was for.
    public var unit: String
    /// `done`, `canceled`, `timeout`, `failed`, `dependency`, `skipped` or `invalid`.
    public var result: String

    /// True when the job did what it was asked to.
    public var succeeded: Bool { result == "done" || result == "skipped" }
}
