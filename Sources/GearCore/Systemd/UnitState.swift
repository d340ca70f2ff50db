/// A unit's state as the agent uses it: what `SystemdControl.status` answers. `BusSystemdControl` fills it from
/// systemd's unit properties; nothing outside the systemd seam sees D-Bus values.
public struct UnitState: Sendable, Hashable {
    public var name: String
    /// `loaded`, `not-found`, ...; empty for a unit systemd does not hold now (`isLoaded` false).
    public var loadState: String
    public var activeState: String
    public var subState: String
    public var mainPID: UInt32
    /// How the main process last ended: its exit status (or signal) and systemd's `CLD_*` code.
    public var execMainStatus: Int32
    public var execMainCode: Int32
    /// `success`, `exit-code`, `signal`, ...
    public var result: String
    /// How often systemd restarted it (`Restart=`).
    public var restarts: UInt32
    /// Microseconds since the epoch; 0 when it never happened.
    public var activeEnterTimestamp: UInt64
    public var inactiveEnterTimestamp: UInt64
    public var stateChangeTimestamp: UInt64
    public var execMainStartTimestamp: UInt64
    /// False when systemd does not hold the unit now: the state is the last one it announced (or inactive/dead for
    /// one never loaded), read without making systemd load it.
    public var isLoaded: Bool

    public init(
        name: String, loadState: String = "loaded", activeState: String = "inactive", subState: String = "dead", mainPID: UInt32 = 0,
        execMainStatus: Int32 = 0, execMainCode: Int32 = 0, result: String = "", restarts: UInt32 = 0, activeEnterTimestamp: UInt64 = 0,
        inactiveEnterTimestamp: UInt64 = 0, stateChangeTimestamp: UInt64 = 0, execMainStartTimestamp: UInt64 = 0, isLoaded: Bool = true
    ) {
        self.name = name
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.mainPID = mainPID
        self.execMainStatus = execMainStatus
        self.execMainCode = execMainCode
        self.result = result
        self.restarts = restarts
        self.activeEnterTimestamp = activeEnterTimestamp
        self.inactiveEnterTimestamp = inactiveEnterTimestamp
        self.stateChangeTimestamp = stateChangeTimestamp
        self.execMainStartTimestamp = execMainStartTimestamp
        self.isLoaded = isLoaded
    }
}

/// One loaded unit of a listing (`SystemdControl.list`).
public struct UnitListing: Sendable, Hashable {
    public var name: String
    public var loadState: String
    public var activeState: String
    public var subState: String
    /// The type of a job queued for it (`start`, `stop`), empty when none.
    public var jobType: String

    public init(name: String, loadState: String, activeState: String, subState: String, jobType: String = "") {
        self.name = name
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.jobType = jobType
    }
}

/// New values systemd announced for a unit's state properties: only those that changed are set.
public struct UnitPropertyChange: Sendable, Hashable {
    public var activeState: String?
    public var subState: String?
    public var mainPID: Int?
    public var result: String?
    public var exitStatus: Int?
    public var restarts: Int?

    public init(
        activeState: String? = nil, subState: String? = nil, mainPID: Int? = nil, result: String? = nil, exitStatus: Int? = nil,
        restarts: Int? = nil
    ) {
        self.activeState = activeState
        self.subState = subState
        self.mainPID = mainPID
        self.result = result
        self.exitStatus = exitStatus
        self.restarts = restarts
    }
}

/// A change systemd announced (`SystemdControl.unitChanges`).
public enum UnitStateChange: Sendable {
    case changed(unit: String, UnitPropertyChange)
    /// The connection to systemd was re-established: changes in between were not seen.
    case reconnected
}
