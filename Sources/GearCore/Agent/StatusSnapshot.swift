public import GearAPI
import Synchronization

/// A container's status with its JSON, made once per change of its definition or unit state and shared by every
/// read until then: a list of 100 containers under load copies bytes instead of encoding 100 statuses.
public final class StatusSnapshot: Sendable {
    public let status: ContainerStatus
    /// `status` as `GearJSON.encoder()` writes it (no trailing newline).
    public let json: [UInt8]
    fileprivate let revision: UInt64
    fileprivate let unit: UnitState

    fileprivate init(status: ContainerStatus, revision: UInt64, unit: UnitState) {
        self.status = status
        var writer = JSONWriter(capacity: 768)
        status.write(to: &writer)
        self.json = writer.bytes
        self.revision = revision
        self.unit = unit
    }
}

/// The last snapshot of each container, valid while its definition revision and unit state are what they were.
final class StatusSnapshotCache: Sendable {
    private let snapshots = Mutex<[ContainerID: StatusSnapshot]>([:])

    /// The snapshots of `entries` with these unit states: cached ones where still valid, new ones otherwise.
    /// With `complete` (the entries are every installed container), snapshots of containers gone are dropped.
    func snapshots(
        _ entries: [DefinitionIndex.Entry], units: [UnitState], health: (ContainerID) -> HealthStatus? = { _ in nil }, complete: Bool = false
    ) -> [StatusSnapshot] {
        let cached = snapshots.withLock { snapshots in entries.map { snapshots[$0.definition.id] } }
        var result: [StatusSnapshot] = []
        result.reserveCapacity(entries.count)
        var fresh: [(ContainerID, StatusSnapshot)] = []
        for (i, entry) in entries.enumerated() {
            let health = entry.definition.spec.health == nil ? nil : health(entry.definition.id)
            if let snapshot = cached[i], snapshot.revision == entry.revision, snapshot.unit == units[i], snapshot.status.health == health {
                result.append(snapshot)
            } else {
                var status = NodeAgent.containerStatus(entry.definition, unit: units[i])
                status.health = health
                let snapshot = StatusSnapshot(status: status, revision: entry.revision, unit: units[i])
                result.append(snapshot)
                fresh.append((entry.definition.id, snapshot))
            }
        }
        if !fresh.isEmpty || complete {
            snapshots.withLock { snapshots in
                for (id, snapshot) in fresh { snapshots[id] = snapshot }
                if complete, snapshots.count > entries.count {
                    let live = Set(entries.map(\.definition.id))
                    snapshots = snapshots.filter { live.contains($0.key) }
                }
            }
        }
        return result
    }
}

/// Every installed container's snapshot, sorted by id, with the list's JSON: kept while no definition and no unit
/// state changed, so that a list under load is one comparison and a copy.
public final class ContainerListSnapshot: Sendable {
    public let containers: [StatusSnapshot]
    /// `{"containers":[...]}` as `ContainerList` encodes without orphan units (no trailing newline).
    public let json: [UInt8]
    /// The definition index and unit state generations it was made at (nil: not to be kept).
    let key: Key?

    struct Key: Equatable {
        var definitions: UInt64
        var units: UInt64
        var health: UInt64
    }

    init(_ containers: [StatusSnapshot], key: Key?) {
        self.containers = containers
        self.key = key
        var json: [UInt8] = []
        json.reserveCapacity(containers.reduce(20) { $0 + $1.json.count + 1 })
        json.append(contentsOf: #"{"containers":["#.utf8)
        for (i, snapshot) in containers.enumerated() {
            if i > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: snapshot.json)
        }
        json.append(contentsOf: "]}".utf8)
        self.json = json
    }
}
