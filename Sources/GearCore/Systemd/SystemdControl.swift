import GearAPI
public import Logging
import SystemdBus

/// What the agent asks of systemd. `BusSystemdControl` does it over D-Bus; unit tests of the job queue use
/// an in-memory stand-in, integration tests the real thing.
public protocol SystemdControl: Sendable {
    /// Links unit files that live outside systemd's search path (`LinkUnitFiles`).
    func link(_ paths: [String]) async throws
    /// Enables units by their `[Install]` section (`EnableUnitFiles`).
    func enable(_ names: [String]) async throws
    /// Removes every symlink to the units, links included (`DisableUnitFiles`).
    func disable(_ names: [String]) async throws
    /// `daemon-reload`; answers when systemd has re-read its units.
    func reload() async throws
    /// True when systemd holds the unit loaded now (`GetUnit`, which loads nothing; one round trip, answered after
    /// everything geard asked before). A changed unit file needs a reload only then: systemd reads the file of a
    /// unit it does not hold when it loads it.
    func isLoaded(_ unit: String) async throws -> Bool
    /// True when other units systemd holds depend on the unit (`WantedBy`, `RequiredBy`, ...; for a container,
    /// `gear-active.target` once a reload read its boot want). systemd then keeps the unit loaded, stopped or not,
    /// until a reload, also once its file is gone (`NeedDaemonReload=yes`).
    func isPinned(_ unit: String) async throws -> Bool
    /// Starts, stops or restarts a unit and waits for systemd's job to end; returns the job result.
    func start(_ unit: String) async throws -> String
    func stop(_ unit: String) async throws -> String
    func restart(_ unit: String) async throws -> String
    /// Starts a transient unit with `settings` (`StartTransientUnit`, mode `fail`) and waits for its start job to
    /// end; returns the job result.
    func startTransient(_ unit: String, settings: [UnitSetting]) async throws -> String
    /// Forgets a failed state.
    func resetFailed(_ unit: String) async throws
    /// A unit's state.
    func status(_ unit: String) async throws -> UnitState
    /// Several units' states, in order.
    func statuses(_ units: [String]) async throws -> [UnitState]
    /// Loaded units matching glob patterns.
    func list(patterns: [String]) async throws -> [UnitListing]
    /// The last `lines` journal entries of a unit, oldest first, with their pid and identifier (empty when the
    /// journal cannot be read).
    func recentLog(_ unit: String, lines: Int) async -> [LogRecord]
    /// A cheap round trip that proves systemd answers.
    func ping() async throws
    /// systemd's version.
    func version() async throws -> String
    /// Changes of `ctr-*` units' state properties as systemd announces them.
    func unitChanges() -> AsyncStream<UnitStateChange>
    /// A number that changes whenever a unit state `status` answers may have changed, or nil when there is none
    /// (then nothing derived from states is kept).
    var stateGeneration: UInt64? { get }
}

extension SystemdControl {
    public var stateGeneration: UInt64? { nil }

    /// No announcements (a stand-in that has none ends the stream at once).
    public func unitChanges() -> AsyncStream<UnitStateChange> {
        AsyncStream { $0.finish() }
    }

    public func statuses(_ units: [String]) async throws -> [UnitState] {
        var result: [UnitState] = []
        for unit in units { result.append(try await status(unit)) }
        return result
    }
}

/// How geard reaches systemd.
public enum SystemdBusChoice: String, Sendable, CaseIterable, CustomStringConvertible {
    /// systemd's private socket when geard is root and may write it, the system bus otherwise.
    case auto
    /// systemd's private socket (`/run/systemd/private`): no dbus-daemon in between.
    case `private`
    /// The system bus (dbus-daemon or dbus-broker).
    case system

    public var description: String { rawValue }
}

/// `SystemdControl` over a real sd-bus connection (and sd-journal for recent log lines). It owns the connection:
/// `close` it when geard is done.
public struct BusSystemdControl: SystemdControl {
    let manager: SystemdManager

    /// Connects to systemd (the connection's own thread connects, and reconnects after the bus went away), and has
    /// it track which `ctr-*` units systemd holds loaded, so that the state of a stopped container systemd collected
    /// is read from memory instead of loading its unit again.
    public init(_ choice: SystemdBusChoice, logger: Logger) {
        let address: BusAddress =
            switch choice {
            case .auto: BusConnection.defaultAddress()
            case .private: .systemdPrivate()
            case .system: .system
            }
        let bus = BusConnection(address: address, logger: logger)
        self.manager = SystemdManager(bus: bus)
        bus.trackUnits(namePrefix: ContainerID.unitPrefix)
    }

    /// Where it connects, for the log.
    public var address: String { manager.bus.address.description }

    /// Closes the connection.
    public func close() { manager.bus.close() }

    public func link(_ paths: [String]) async throws { _ = try await manager.linkUnitFiles(paths) }
    public func enable(_ names: [String]) async throws { _ = try await manager.enableUnitFiles(names) }
    public func disable(_ names: [String]) async throws { _ = try await manager.disableUnitFiles(names) }
    public func reload() async throws { try await manager.reload() }
    public func isLoaded(_ unit: String) async throws -> Bool { try await manager.getUnit(unit) != nil }
    public func isPinned(_ unit: String) async throws -> Bool {
        guard try await manager.getUnit(unit) != nil else { return false }
        let properties = try await manager.unitProperties(unit, wanted: Self.reverseDependencies)
        return properties.values.contains { $0.elements?.isEmpty == false }
    }
    /// The properties that name the units depending on one (the reverse of `Wants=`, `Requires=`, `Requisite=`,
    /// `BindsTo=`, `PartOf=`, `Upholds=`, and of a socket's or timer's trigger).
    static let reverseDependencies: Set<String> = [
        "WantedBy", "RequiredBy", "RequisiteOf", "BoundBy", "ConsistsOf", "UpheldBy", "TriggeredBy",
    ]
    public func start(_ unit: String) async throws -> String { try await manager.startUnit(unit).result }
    public func restart(_ unit: String) async throws -> String { try await manager.restartUnit(unit).result }
    public func resetFailed(_ unit: String) async throws { try await manager.resetFailedUnit(unit) }
    public func startTransient(_ unit: String, settings: [UnitSetting]) async throws -> String {
        try await manager.startTransientUnit(unit, properties: settings.map { ($0.name, BusValue($0.value)) }).result
    }
    public func status(_ unit: String) async throws -> UnitState { UnitState(try await manager.unitStatus(unit)) }
    public func statuses(_ units: [String]) async throws -> [UnitState] { try await manager.unitStatuses(units).map(UnitState.init) }
    public func list(patterns: [String]) async throws -> [UnitListing] {
        try await manager.listUnits(patterns: patterns).map {
            UnitListing(name: $0.name, loadState: $0.loadState, activeState: $0.activeState, subState: $0.subState, jobType: $0.jobType)
        }
    }
    public func ping() async throws { try await manager.ping() }
    public func version() async throws -> String { try await manager.version() }
    public func unitChanges() -> AsyncStream<UnitStateChange> {
        let source = manager.bus.unitChanges(unitPrefix: ContainerID.unitPrefix)
        return AsyncStream { continuation in
            let task = Task {
                for await change in source {
                    switch change {
                    case .changed(let unit, let properties): continuation.yield(.changed(unit: unit, UnitPropertyChange(properties)))
                    case .reconnected: continuation.yield(.reconnected)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
    public var stateGeneration: UInt64? { manager.bus.unitStateGeneration }

    public func stop(_ unit: String) async throws -> String {
        do {
            return try await manager.stopUnit(unit).result
        } catch let error as BusError where error.isNoSuchObject {
            return "done"
        }
    }

    public func recentLog(_ unit: String, lines: Int) async -> [LogRecord] {
        (try? await BlockingIO.run { () throws -> [LogRecord] in
            let reader = try JournalReaderBox()
            return try reader.tail(unit: unit, lines: lines)
        }) ?? []
    }
}

extension UnitState {
    /// From the bus's view of the unit.
    init(_ status: UnitStatus) {
        self.init(
            name: status.name, loadState: status.loadState, activeState: status.activeState, subState: status.subState, mainPID: status.mainPID,
            execMainStatus: status.execMainStatus, execMainCode: status.execMainCode, result: status.result, restarts: status.restarts,
            activeEnterTimestamp: status.activeEnterTimestamp, inactiveEnterTimestamp: status.inactiveEnterTimestamp,
            stateChangeTimestamp: status.stateChangeTimestamp, execMainStartTimestamp: status.execMainStartTimestamp, isLoaded: status.isLoaded)
    }
}

extension BusValue {
    /// A transient property's value in its D-Bus type.
    init(_ value: TransientValue) {
        switch value {
        case .bool(let b): self = .bool(b)
        case .string(let s): self = .string(s)
        case .strings(let list): self = .strings(list)
        case .uint64(let v): self = .uint64(v)
        case .uint32(let v): self = .uint32(v)
        case .int32(let v): self = .int32(v)
        case .commands(let lines):
            self = .array(
                elementSignature: "(sasb)", lines.map { .structure([.string($0.first ?? ""), .strings($0), .bool(false)]) })
        case .list(let allow, let items): self = .structure([.bool(allow), .strings(items)])
        case .environmentFiles(let paths): self = .array(elementSignature: "(sb)", paths.map { .structure([.string($0), .bool(false)]) })
        }
    }
}

extension UnitPropertyChange {
    /// The state properties among those systemd announced in one `PropertiesChanged`.
    init(_ properties: [String: BusValue]) {
        self.init(
            activeState: properties["ActiveState"]?.string, subState: properties["SubState"]?.string,
            mainPID: properties["MainPID"]?.integer.map { Int($0) }, result: properties["Result"]?.string,
            exitStatus: properties["ExecMainStatus"]?.integer.map { Int(Int32(truncatingIfNeeded: $0)) },
            restarts: properties["NRestarts"]?.integer.map { Int($0) })
    }
}
