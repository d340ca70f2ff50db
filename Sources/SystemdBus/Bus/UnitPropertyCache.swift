import Synchronization

/// systemd unit properties kept current by signals, so that reading a unit's state costs no round trip.
///
/// An entry is filled from a `GetAll` reply and then changed by the unit's `PropertiesChanged` signals; both are
/// applied on the bus thread in the order they arrived, so an entry is never older than what systemd sent last.
/// systemd sends a unit's property changes before the `JobRemoved` of a job on it, so once a job's completion is
/// seen, the entry already shows its effect. Only properties that systemd announces when they change
/// (`emits-change`) are kept; `LoadState` changes only on a reload, and every reload, `UnitRemoved` and reconnect
/// drops entries.
final class UnitPropertyCache: Sendable {
    /// The properties worth caching: those systemd emits changes for, plus `LoadState` (constant between reloads).
    static let cacheable: Set<String> = [
        "LoadState", "ActiveState", "SubState", "MainPID", "ExecMainStatus", "ExecMainCode", "Result", "NRestarts",
        "ActiveEnterTimestamp", "InactiveEnterTimestamp", "StateChangeTimestamp", "ExecMainStartTimestamp", "InvocationID",
        "Id",
    ]

    /// The properties of one unit, and its status parsed from them once per change (not once per read).
    private struct Entry {
        var properties: [String: BusValue]
        var status: UnitStatus

        init(_ properties: [String: BusValue]) {
            self.properties = properties
            self.status = UnitStatus(name: properties["Id"]?.string ?? "", properties: properties)
        }
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let limit: Int
    /// Grows with every change to the entries (made under their lock): a reader that saw the same value before
    /// and after knows nothing changed in between.
    private let changes = Atomic<UInt64>(0)

    /// The number of changes so far (see `BusConnection.unitStateGeneration`).
    var generation: UInt64 { changes.load(ordering: .acquiring) }

    private func changed() {
        changes.add(1, ordering: .releasing)
    }

    init(limit: Int = 16_384) {
        self.limit = limit
    }

    /// The cached properties of the unit at `path`, if an entry exists.
    func properties(_ path: String) -> [String: BusValue]? {
        entries.withLock { $0[path]?.properties }
    }

    /// The cached status of the unit at `path`, if an entry exists.
    func status(_ path: String) -> UnitStatus? {
        entries.withLock { $0[path]?.status }
    }

    /// The cached statuses of the units at `paths` (nil where there is no entry), under one lock.
    func statuses(_ paths: [String]) -> [UnitStatus?] {
        entries.withLock { entries in paths.map { entries[$0]?.status } }
    }

    /// Stores what a `GetAll` answered (bus thread).
    func store(_ path: String, _ properties: [String: BusValue]) {
        let kept = properties.filter { Self.cacheable.contains($0.key) }
        entries.withLock { entries in
            if entries.count >= limit, entries[path] == nil { entries.removeAll(keepingCapacity: true) }
            entries[path] = Entry(kept)
            changed()
        }
    }

    /// Applies a `PropertiesChanged` signal (bus thread): changed values replace cached ones; an invalidated
    /// property we keep drops the entry, so that the next read asks systemd.
    func apply(path: String, changed: [String: BusValue], invalidated: [String]) {
        entries.withLock { entries in
            guard var properties = entries[path]?.properties else { return }
            if invalidated.contains(where: Self.cacheable.contains) {
                entries[path] = nil
                self.changed()
                return
            }
            for (name, value) in changed where Self.cacheable.contains(name) { properties[name] = value.unwrapped }
            entries[path] = Entry(properties)
            self.changed()
        }
    }

    func remove(_ path: String) {
        entries.withLock { entries in
            if entries.removeValue(forKey: path) != nil { changed() }
        }
    }

    func removeAll() {
        entries.withLock { entries in
            entries.removeAll()
            changed()
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
