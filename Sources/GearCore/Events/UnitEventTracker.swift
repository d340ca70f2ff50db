public import GearAPI

/// Turns what systemd announces about containers' units into container events: the last state seen of each
/// container, and the events a change of it makes.
///
/// systemd sends a unit's type-specific properties (`MainPID`, `Result`, `ExecMainStatus`, `NRestarts`) before
/// its generic ones (`ActiveState`, `SubState`) in each round, so when the state changes, how the process ended is
/// already known.
public struct UnitEventTracker: Sendable {
    /// What geard last saw of a container's unit.
    public struct Observed: Sendable, Hashable {
        public var activeState = "inactive"
        public var subState = "dead"
        public var mainPID: Int = 0
        public var result = ""
        public var exitStatus: Int = 0
        public var restarts: Int = 0
        /// systemd counted a restart while the unit waited in `auto-restart`: the `inactive` that follows is part
        /// of the restart, not a stop.
        var restartPending = false

        public init() {}

        public init(_ status: UnitState) {
            activeState = status.activeState
            subState = status.subState
            mainPID = Int(status.mainPID)
            result = status.result
            exitStatus = Int(status.execMainStatus)
            restarts = Int(status.restarts)
        }

        /// What a container state event recorded (nil for other events).
        public init?(_ event: GearEvent) {
            guard let active = event.activeState, let sub = event.subState else { return nil }
            activeState = active
            subState = sub
            mainPID = event.mainPID ?? 0
            result = event.result ?? ""
            exitStatus = event.exitStatus ?? 0
            restarts = event.restarts ?? 0
        }

        mutating func apply(_ change: UnitPropertyChange) {
            if let v = change.activeState { activeState = v }
            if let v = change.subState { subState = v }
            if let v = change.mainPID { mainPID = v }
            if let v = change.result { result = v }
            if let v = change.exitStatus { exitStatus = v }
            if let v = change.restarts { restarts = v }
        }

        var autoRestarting: Bool { subState == "auto-restart" }

        /// The event that entering this state makes, if any.
        var stateEvent: EventType? {
            switch activeState {
            case "activating" where autoRestarting: result == "success" ? .exited : .failed
            case "activating": .starting
            case "active": .started
            case "deactivating": .stopping
            case "inactive": .stopped
            case "failed": .failed
            default: nil
            }
        }

        /// Fills the state fields of an event.
        public func fill(_ event: inout GearEvent) {
            event.activeState = activeState
            event.subState = subState
            event.mainPID = mainPID > 0 ? mainPID : nil
            if [EventType.stopped, .failed, .exited].contains(event.type) || !result.isEmpty && result != "success" {
                event.result = result.isEmpty ? nil : result
                event.exitStatus = exitStatus
            }
            event.restarts = restarts > 0 ? restarts : nil
        }
    }

    public private(set) var observed: [ContainerID: Observed] = [:]

    public init() {}

    /// Applies announced property values; returns the events they make, in order.
    public mutating func apply(_ id: ContainerID, _ change: UnitPropertyChange) -> [EventType] {
        let before = observed[id] ?? Observed()
        var after = before
        after.apply(change)
        if after.restarts > before.restarts && after.autoRestarting { after.restartPending = true }
        let events = Self.events(from: before, to: after)
        if after.activeState != "inactive" && !after.autoRestarting { after.restartPending = false }
        observed[id] = after
        return events
    }

    /// Sets what is known of a container now (read from systemd); returns the events that the difference from
    /// what was known before makes (none when nothing was known).
    public mutating func resync(_ id: ContainerID, _ now: Observed, known: Observed?) -> [EventType] {
        observed[id] = now
        guard let known else { return [] }
        return Self.events(from: known, to: now)
    }

    public mutating func forget(_ id: ContainerID) {
        observed[id] = nil
    }

    static func events(from before: Observed, to after: Observed) -> [EventType] {
        var events: [EventType] = []
        if after.restarts > before.restarts { events.append(.restarted) }
        guard after.activeState != before.activeState || after.autoRestarting != before.autoRestarting else { return events }
        // systemd passes a failing unit through `failed` before `auto-restart`, and a restarting one through
        // `inactive/dead` before it starts again: one failure is one event, and a restart is no stop.
        if before.activeState == "failed" && after.autoRestarting { return events }
        if before.autoRestarting && after.activeState == "inactive" && after.restartPending { return events }
        if let event = after.stateEvent { events.append(event) }
        return events
    }
}
