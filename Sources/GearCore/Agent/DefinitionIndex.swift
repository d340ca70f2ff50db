import GearAPI
import Synchronization

/// The definition in force for each container (or the one an accepted install is about to apply), readable from
/// any thread without waiting for the agent: status, list and ports read it directly.
///
/// The agent replaces it whenever its definitions or pending installs change; readers see one consistent
/// snapshot per read. Each definition carries a revision that changes only when the definition does, so that
/// what is derived from it (an encoded status) can be kept until then.
final class DefinitionIndex: Sendable {
    /// A definition as published, with what readers need of it every time.
    final class Entry: Sendable {
        let definition: ContainerDefinition
        let unitName: String
        let revision: UInt64

        init(_ definition: ContainerDefinition, revision: UInt64) {
            self.definition = definition
            self.unitName = definition.id.unitName
            self.revision = revision
        }
    }

    private struct Snapshot {
        var byID: [ContainerID: Entry] = [:]
        /// The same entries sorted by container id.
        var sorted: [Entry] = []
        var nextRevision: UInt64 = 1
        /// Changes with every replace that changed anything.
        var generation: UInt64 = 0
    }

    private let snapshot = Mutex(Snapshot())

    subscript(id: ContainerID) -> ContainerDefinition? {
        snapshot.withLock { $0.byID[id]?.definition }
    }

    /// Every entry, sorted by container id (no copy of the definitions: the entries are shared).
    var entries: [Entry] {
        snapshot.withLock { $0.sorted }
    }

    /// The entries and the generation they belong to.
    var versioned: (entries: [Entry], generation: UInt64) {
        snapshot.withLock { ($0.sorted, $0.generation) }
    }

    func entry(_ id: ContainerID) -> Entry? {
        snapshot.withLock { $0.byID[id] }
    }

    func replace(_ all: [ContainerID: ContainerDefinition]) {
        snapshot.withLock { snapshot in
            var byID: [ContainerID: Entry] = [:]
            byID.reserveCapacity(all.count)
            for (id, definition) in all {
                if let old = snapshot.byID[id], old.definition == definition {
                    byID[id] = old
                } else {
                    byID[id] = Entry(definition, revision: snapshot.nextRevision)
                    snapshot.nextRevision += 1
                }
            }
            let same = byID.count == snapshot.byID.count && byID.allSatisfy { snapshot.byID[$0.key] === $0.value }
            guard !same else { return }
            snapshot.byID = byID
            snapshot.sorted = byID.values.sorted { $0.definition.id < $1.definition.id }
            snapshot.generation += 1
        }
    }
}
