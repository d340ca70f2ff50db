import GearAPI
import GearCore
import Logging
import Synchronization

/// Holds the transport's `TransportState` and writes it to disk: at once when the lease or the environments the
/// transport made change, and at most once a second for the applied revision alone (`flush`), which a restart does
/// not need exactly (it compares everything anew).
final class StateKeeper: Sendable {
    private struct Box {
        var state: TransportState
        var unsaved = false
    }
    private let box: Mutex<Box>
    let layout: StateLayout
    let logger: Logger

    init(layout: StateLayout, node: String, logger: Logger) {
        self.layout = layout
        self.logger = logger
        box = Mutex(Box(state: TransportState.load(layout, node: node)))
    }

    var current: TransportState { box.withLock { $0.state } }

    /// Changes the state; saved now unless only the applied revision changed.
    func update(_ change: (inout TransportState) -> Void) {
        let (state, now) = box.withLock { box -> (TransportState, Bool) in
            let before = box.state
            change(&box.state)
            guard box.state != before else { return (box.state, false) }
            var revisionOnly = before
            revisionOnly.appliedRevision = box.state.appliedRevision
            box.unsaved = true
            return (box.state, revisionOnly != box.state)
        }
        if now { save(state) }
    }

    /// Saves what is not saved yet.
    func flush() {
        let state = box.withLock { box -> TransportState? in box.unsaved ? box.state : nil }
        if let state { save(state) }
    }

    private func save(_ state: TransportState) {
        do {
            try state.save(layout)
            box.withLock { if $0.state == state { $0.unsaved = false } }
        } catch {
            logger.error("cannot save the etcd transport's state", metadata: ["error": "\(error.message)"])
        }
    }
}
