internal import CSystemd
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// systemd's manager API (`org.freedesktop.systemd1.Manager`) over a `BusConnection`.
///
/// Every method is one D-Bus round trip, except the job methods, which also wait for the job's `JobRemoved`.
public struct SystemdManager: Sendable {
    /// The connection calls go over.
    public let bus: BusConnection

    static let managerPath = "/org/freedesktop/systemd1"
    static let managerInterface = "org.freedesktop.systemd1.Manager"

    public init(bus: BusConnection) {
        self.bus = bus
    }

    /// How a job treats jobs already queued for the unit (the `mode` argument of `StartUnit`).
    public enum JobMode: String, Sendable {
        case replace, fail, isolate
        case ignoreDependencies = "ignore-dependencies"
    }

    private func manager(_ member: String, _ arguments: [BusValue] = [], timeout: Duration? = nil) -> MethodCall {
        MethodCall(path: Self.managerPath, interface: Self.managerInterface, member: member, arguments: arguments, timeout: timeout)
    }

    // MARK: jobs

    /// `StartUnit`, waiting for the job to finish.
    public func startUnit(_ name: String, mode: JobMode = .replace) async throws -> JobCompletion {
        try await bus.startJob(manager("StartUnit", [.string(name), .string(mode.rawValue)]))
    }

    /// `StopUnit`, waiting for the job to finish.
    public func stopUnit(_ name: String, mode: JobMode = .replace) async throws -> JobCompletion {
        try await bus.startJob(manager("StopUnit", [.string(name), .string(mode.rawValue)]))
    }

    /// `RestartUnit`, waiting for the job to finish.
    public func restartUnit(_ name: String, mode: JobMode = .replace) async throws -> JobCompletion {
        try await bus.startJob(manager("RestartUnit", [.string(name), .string(mode.rawValue)]))
    }

    /// `StartTransientUnit` with `properties` (name and value, in order; a name may repeat where systemd merges, as
    /// `SystemCallFilter`), waiting for the start job to finish.
    public func startTransientUnit(_ name: String, mode: JobMode = .fail, properties: [(String, BusValue)]) async throws -> JobCompletion {
        let list = BusValue.array(elementSignature: "(sv)", properties.map { .structure([.string($0.0), .variant($0.1)]) })
        let auxiliary = BusValue.array(elementSignature: "(sa(sv))", [])
        return try await bus.startJob(manager("StartTransientUnit", [.string(name), .string(mode.rawValue), list, auxiliary]))
    }

    // MARK: manager

    /// `Reload` (daemon-reload): systemd answers once the reload is complete.
    public func reload() async throws {
        _ = try await bus.call(manager("Reload", timeout: .seconds(120)))
    }

    /// `ResetFailedUnit`: forgets a failed state (ignored when the unit is not loaded).
    public func resetFailedUnit(_ name: String) async throws {
        do {
            _ = try await bus.call(manager("ResetFailedUnit", [.string(name)]))
        } catch let error as BusError where error.isNoSuchObject {
            return
        }
    }

    /// `LinkUnitFiles`: makes unit files outside the search path visible (symlinks in /etc/systemd/system).
    public func linkUnitFiles(_ paths: [String], runtime: Bool = false, force: Bool = true) async throws -> [UnitFileChange] {
        let reply = try await bus.call(manager("LinkUnitFiles", [.strings(paths), .bool(runtime), .bool(force)]))
        return UnitFileChange.parse(reply.first)
    }

    /// `EnableUnitFiles`: creates the symlinks of the units' `[Install]` sections.
    public func enableUnitFiles(_ files: [String], runtime: Bool = false, force: Bool = true) async throws -> [UnitFileChange] {
        let reply = try await bus.call(manager("EnableUnitFiles", [.strings(files), .bool(runtime), .bool(force)]))
        return UnitFileChange.parse(reply.count > 1 ? reply[1] : nil)
    }

    /// `DisableUnitFiles`: removes every symlink to the units, their links included.
    public func disableUnitFiles(_ files: [String], runtime: Bool = false) async throws -> [UnitFileChange] {
        let reply = try await bus.call(manager("DisableUnitFiles", [.strings(files), .bool(runtime)]))
        return UnitFileChange.parse(reply.first)
    }

    /// `GetUnit`: the unit's object path, or nil when the unit is not loaded.
    public func getUnit(_ name: String) async throws -> String? {
        do {
            return try await bus.call(manager("GetUnit", [.string(name)])).first?.string
        } catch let error as BusError where error.isNoSuchObject {
            return nil
        }
    }

    /// `ListUnitsByPatterns`: loaded units whose names match the glob `patterns` (and `states`, if any).
    public func listUnits(patterns: [String], states: [String] = []) async throws -> [UnitListEntry] {
        let reply = try await bus.call(manager("ListUnitsByPatterns", [.strings(states), .strings(patterns)]))
        return (reply.first?.elements ?? []).compactMap(UnitListEntry.init)
    }

    /// The systemd version (`Version` property of the manager).
    public func version() async throws -> String {
        let properties = try await bus.properties(path: Self.managerPath, interface: Self.managerInterface, wanted: ["Version"])
        return properties["Version"]?.string ?? "unknown"
    }

    /// A cheap round trip (`org.freedesktop.DBus.Peer.Ping`) that proves systemd answers.
    public func ping() async throws {
        _ = try await bus.call(MethodCall(path: Self.managerPath, interface: "org.freedesktop.DBus.Peer", member: "Ping", timeout: .seconds(5)))
    }

    // MARK: units

    /// The object path of a unit, computed locally (`sd_bus_path_encode`); reading properties on it loads the
    /// unit if it is not loaded yet.
    public static func unitPath(_ name: String) -> String {
        if let path = knownPaths.withLock({ $0[name] }) { return path }
        let path = encodeUnitPath(name)
        knownPaths.withLock { paths in
            if paths.count >= 16_384 { paths.removeAll(keepingCapacity: true) }
            paths[name] = path
        }
        return path
    }

    /// Unit paths already encoded: a list of 100 containers asks for the same 100 paths every time.
    private static let knownPaths = Mutex<[String: String]>([:])

    private static func encodeUnitPath(_ name: String) -> String {
        var out: UnsafeMutablePointer<CChar>? = nil
        guard sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, &out) >= 0, let out else {
            return "/org/freedesktop/systemd1/unit/_"
        }
        defer { free(out) }
        return String(cString: out)
    }

    /// The unit name of a unit object path (`sd_bus_path_decode`), nil for other paths.
    public static func unitName(path: String) -> String? {
        var out: UnsafeMutablePointer<CChar>? = nil
        guard sd_bus_path_decode(path, "/org/freedesktop/systemd1/unit", &out) > 0, let out else { return nil }
        defer { free(out) }
        return String(cString: out)
    }

    /// Properties of a unit from all its interfaces (`Unit`, `Service`, ...), read now in one round trip.
    public func unitProperties(_ name: String, wanted: Set<String>?) async throws -> [String: BusValue] {
        try await bus.properties(path: Self.unitPath(name), interface: "", wanted: wanted)
    }

    /// The states of several units, in order: one cache read for all, a `GetAll` only for each loaded unit not
    /// cached yet (a tracked unit systemd does not hold is answered from the cache without loading it).
    public func unitStatuses(_ names: [String]) async throws -> [UnitStatus] {
        let paths = names.map(Self.unitPath)
        var lookups = bus.unitLookups(paths: paths, names: names)
        if lookups.contains(where: { if case .pending = $0 { true } else { false } }) {
            // Right after a connect or a reload: the loaded units are being listed (one round trip).
            _ = await bus.waitForTrackedUnits(timeout: .seconds(5))
            lookups = bus.unitLookups(paths: paths, names: names)
        }
        var result: [UnitStatus] = []
        result.reserveCapacity(names.count)
        for (index, lookup) in lookups.enumerated() {
            switch lookup {
            case .status(var status):
                status.name = names[index]
                result.append(status)
            case .unknown, .pending:
                result.append(UnitStatus(name: names[index], properties: try await bus.unitProperties(path: paths[index])))
            }
        }
        return result
    }

    /// The state of a unit as systemd sees it: from the connection's cache, which systemd's signals keep current
    /// (one `GetAll` fills it the first time a loaded unit is read).
    public func unitStatus(_ name: String) async throws -> UnitStatus {
        try await unitStatuses([name])[0]
    }
}
