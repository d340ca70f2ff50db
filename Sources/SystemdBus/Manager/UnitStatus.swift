/// A unit's state, from the properties systemd announces when they change (so they can be cached, see
/// `BusConnection.unitProperties`).
public struct UnitStatus: Sendable, Hashable {
    /// The properties a status is made of.
    public static var propertyNames: Set<String> { UnitPropertyCache.cacheable }

    public var name: String
    /// `loaded`, `not-found`, `bad-setting`, `error`, `masked`.
    public var loadState: String
    /// `active`, `reloading`, `inactive`, `failed`, `activating`, `deactivating`.
    public var activeState: String
    /// Type-specific state, e.g. `running`, `dead`, `start-pre`.
    public var subState: String
    /// The main process, 0 when there is none.
    public var mainPID: UInt32
    /// Exit status (or signal number) of the last main process.
    public var execMainStatus: Int32
    /// `CLD_*` code of the last main process exit (1 exited, 2 killed, 3 dumped).
    public var execMainCode: Int32
    /// Why the unit last stopped or failed (`success`, `exit-code`, `signal`, `timeout`, ...).
    public var result: String
    /// How many times systemd restarted the service automatically.
    public var restarts: UInt32
    /// Microseconds since the epoch; 0 when it never happened.
    public var activeEnterTimestamp: UInt64
    public var inactiveEnterTimestamp: UInt64
    public var stateChangeTimestamp: UInt64
    public var execMainStartTimestamp: UInt64
    /// False when systemd does not hold the unit loaded (it collected it, or never loaded it): the state is then
    /// the last one seen before systemd collected it, or that of a unit never started.
    public var isLoaded: Bool

    public init(name: String, properties p: [String: BusValue]) {
        self.name = name
        isLoaded = true
        loadState = p["LoadState"]?.string ?? "not-found"
        activeState = p["ActiveState"]?.string ?? "inactive"
        subState = p["SubState"]?.string ?? "dead"
        mainPID = UInt32(p["MainPID"]?.integer ?? 0)
        execMainStatus = Int32(truncatingIfNeeded: p["ExecMainStatus"]?.integer ?? 0)
        execMainCode = Int32(truncatingIfNeeded: p["ExecMainCode"]?.integer ?? 0)
        result = p["Result"]?.string ?? ""
        restarts = UInt32(truncatingIfNeeded: p["NRestarts"]?.integer ?? 0)
        activeEnterTimestamp = p["ActiveEnterTimestamp"]?.uint64 ?? 0
        inactiveEnterTimestamp = p["InactiveEnterTimestamp"]?.uint64 ?? 0
        stateChangeTimestamp = p["StateChangeTimestamp"]?.uint64 ?? 0
        execMainStartTimestamp = p["ExecMainStartTimestamp"]?.uint64 ?? 0
    }

    /// The state of a unit systemd does not hold loaded and never reported: what loading it would show (inactive,
    /// dead, never started), with an empty `loadState`, since only a load would tell whether its file is valid.
    public init(unloaded name: String) {
        self.init(name: name, properties: ["ActiveState": .string("inactive"), "SubState": .string("dead"), "LoadState": .string("")])
        isLoaded = false
    }
}

/// One row of `ListUnitsByPatterns`.
public struct UnitListEntry: Sendable, Hashable {
    public var name: String
    public var description: String
    public var loadState: String
    public var activeState: String
    public var subState: String
    public var jobType: String

    /// Reads one `(ssssssouso)` row of `ListUnits`/`ListUnitsByPatterns`.
    public init?(_ value: BusValue) {
        guard let f = value.elements, f.count >= 10,
            let name = f[0].string, let description = f[1].string, let load = f[2].string,
            let active = f[3].string, let sub = f[4].string
        else { return nil }
        self.name = name
        self.description = description
        self.loadState = load
        self.activeState = active
        self.subState = sub
        self.jobType = f[8].string ?? ""
    }
}

/// A change systemd made to unit files (`symlink` or `unlink`, the file and its destination).
public struct UnitFileChange: Sendable, Hashable {
    public var type: String
    public var file: String
    public var destination: String

    static func parse(_ value: BusValue?) -> [UnitFileChange] {
        (value?.elements ?? []).compactMap { entry in
            guard let f = entry.elements, f.count == 3, let type = f[0].string, let file = f[1].string else { return nil }
            return UnitFileChange(type: type, file: file, destination: f[2].string ?? "")
        }
    }
}
