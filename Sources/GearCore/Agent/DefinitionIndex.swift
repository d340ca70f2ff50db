import Synchronization

/// The definition in force for each container (or the one an accepted install is about to apply), readable from
/// any thread without waiting for the agent: status, list and ports read it directly.
///
/// The agent replaces it whenever its definitions or pending installs change; readers see one consistent
/// snapshot per read.
final class DefinitionIndex: Sendable {
    private let entries = Mutex<[ContainerID: ContainerDefinition]>([:])

    subscript(id: ContainerID) -> ContainerDefinition? {
        entries.withLock { $0[id] }
    }

    /// Every definition, sorted by container id.
    var sorted: [ContainerDefinition] {
        entries.withLock { Array($0.values) }.sorted { $0.id < $1.id }
    }

    func replace(_ all: [ContainerID: ContainerDefinition]) {
        entries.withLock { $0 = all }
    }
}
