import Foundation
import GearAPI
import Logging

/// Events: what the agent records itself (jobs, installs, deletes) and what it learns from systemd's signals about
/// containers' units.
extension NodeAgent {
    /// Follows systemd's announcements about `ctr-*` units until the task is cancelled, turning state changes of
    /// installed containers into events. First it reads every container's state and reports what changed since
    /// the last event recorded for it (changes while geard was down); again after a reconnect to the bus.
    nonisolated func followUnits() async {
        let changes = systemd.unitChanges()
        var tracker = UnitEventTracker()
        await resync(&tracker, known: await takeKnownUnitStates())
        for await change in changes {
            switch change {
            case .changed(let unit, let properties):
                guard let id = ContainerID.fromUnitName(unit) else { continue }
                guard index[id] != nil else {
                    tracker.forget(id)
                    continue
                }
                let types = tracker.apply(id, properties)
                for type in types {
                    record(type, id, tracker.observed[id] ?? .init())
                }
                // A container with links that started (again: a new namespace) or stopped.
                if !types.isEmpty, index[id]?.spec.links != nil { await reconcileLinks(id) }
            case .reconnected:
                let known = tracker.observed.mapValues(Optional.some)
                await resync(&tracker, known: known)
            }
        }
    }

    private nonisolated func record(_ type: EventType, _ id: ContainerID, _ observed: UnitEventTracker.Observed) {
        events.append(type, container: id.rawValue) { observed.fill(&$0) }
    }

    /// Reads the state of every installed container and records the events its difference from `known` makes.
    private nonisolated func resync(_ tracker: inout UnitEventTracker, known: [ContainerID: UnitEventTracker.Observed?]) async {
        let entries = index.entries
        let installed = entries.map(\.definition.id)
        guard let statuses = try? await systemd.statuses(entries.map(\.unitName)) else {
            logger.warning("cannot read the containers' states to report changes; events resume with the next change")
            return
        }
        for (id, status) in zip(installed, statuses) {
            for type in tracker.resync(id, UnitEventTracker.Observed(status), known: known[id] ?? nil) {
                record(type, id, tracker.observed[id] ?? .init())
            }
        }
        // Links listen again after a start of geard (or a reconnect), for the containers that run.
        for entry in entries where entry.definition.spec.links != nil { await reconcileLinks(entry.definition.id) }
    }

    private func takeKnownUnitStates() -> [ContainerID: UnitEventTracker.Observed?] {
        defer { knownUnitStates = [:] }
        var known: [ContainerID: UnitEventTracker.Observed?] = [:]
        for (container, event) in knownUnitStates {
            guard let id = try? ContainerID(container) else { continue }
            known[id] = UnitEventTracker.Observed(event)
        }
        return known
    }
}
