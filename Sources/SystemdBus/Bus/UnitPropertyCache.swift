import Synchronization

/// systemd unit properties kept current by signals, so that reading a unit's state costs no round trip, also for
/// units systemd does not hold loaded.
///
/// An entry is filled from a `GetAll` reply and then changed by the unit's `PropertiesChanged` signals; both are
/// applied on the bus thread in the order they arrived, so an entry is never older than what systemd sent last.
/// systemd sends a unit's property changes before the `JobRemoved` of a job on it, so once a job's completion is
/// seen, the entry already shows its effect. Only properties that systemd announces when they change
/// (`emits-change`) are kept; `LoadState` changes only on a reload.
///
/// For the *tracked* units (names with one prefix, `ctr-`), the cache also knows which ones systemd holds loaded:
/// a `ListUnitsByPatterns` after each connect and each reload, then `UnitNew` and `UnitRemoved`. systemd unloads
/// an inactive unit nobody references (garbage collection); reading such a unit's properties would load it from
/// disk again (and systemd would collect it again), so instead a tracked unit that is not loaded answers its last
/// state seen before it was collected (collection only takes inactive units), or, never seen, the state of a
/// freshly loaded unit: inactive and dead. Everything a later load or start changes arrives as signals.
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

    /// What a read of a unit's state finds.
    enum Lookup {
        /// The state, without a round trip.
        case status(UnitStatus)
        /// Nothing known: read the properties from systemd (which loads the unit if needed).
        case unknown
        /// The loaded tracked units are being listed (after a connect or a reload): wait, then look again.
        case pending
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Object paths of the tracked units systemd holds loaded (meaningful while `complete`).
        var loaded: Set<String> = []
        /// True once a listing of the loaded tracked units was applied and nothing since invalidated it.
        var complete = false
        /// The number of the last listing asked for; only its answer makes the set complete.
        var listing: UInt64 = 0
        var readyWaiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    private let limit: Int
    /// Grows with every change to the entries or the loaded set (made under their lock): a reader that saw the
    /// same value before and after knows nothing changed in between.
    private let changes = Atomic<UInt64>(0)
    /// The name and object path prefixes of the tracked units (empty: none tracked).
    private let trackedPrefix = Mutex<(name: String, path: String)>(("", ""))

    /// The number of changes so far (see `BusConnection.unitStateGeneration`).
    var generation: UInt64 { changes.load(ordering: .acquiring) }

    private func changed() {
        changes.add(1, ordering: .releasing)
    }

    init(limit: Int = 16_384) {
        self.limit = limit
    }

    // MARK: tracking

    /// Tracks the units whose names start with `namePrefix`, whose object paths start with `pathPrefix`.
    func track(namePrefix: String, pathPrefix: String) {
        trackedPrefix.withLock { $0 = (namePrefix, pathPrefix) }
    }

    /// The object path prefix of the tracked units, nil when none are.
    var trackedPathPrefix: String? {
        let prefix = trackedPrefix.withLock { $0.path }
        return prefix.isEmpty ? nil : prefix
    }

    /// The name prefix of the tracked units, nil when none are.
    var trackedNamePrefix: String? {
        let prefix = trackedPrefix.withLock { $0.name }
        return prefix.isEmpty ? nil : prefix
    }

    private func isTracked(_ path: String) -> Bool {
        guard let prefix = trackedPathPrefix else { return false }
        return path.hasPrefix(prefix)
    }

    /// A listing of the loaded tracked units is about to be asked for (bus thread): until its answer, reads of
    /// tracked units without an entry wait. Returns its number.
    func beginListing() -> UInt64 {
        state.withLock { state in
            state.listing += 1
            state.complete = false
            return state.listing
        }
    }

    /// Applies the answer of listing `number` (bus thread): the loaded tracked units are exactly `paths` (signals
    /// that arrived before the answer are already in it, later ones are applied on top).
    func applyListing(_ number: UInt64, loaded paths: Set<String>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard number == state.listing else { return [] }
            state.loaded = paths
            state.complete = true
            let waiters = Array(state.readyWaiters.values)
            state.readyWaiters.removeAll()
            changed()
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// A listing failed or the connection went away: reads stop waiting for it.
    func abandonListing() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            let waiters = Array(state.readyWaiters.values)
            state.readyWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }

    /// Waits until the loaded tracked units are known (true) or `timeout` passed or the listing failed (false).
    func waitUntilListed(timeout: Duration) async -> Bool {
        let token = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Bool in
                if state.complete { return true }
                state.readyWaiters[token] = continuation
                return false
            }
            if ready {
                continuation.resume(returning: true)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                let waiter = self.state.withLock { $0.readyWaiters.removeValue(forKey: token) }
                waiter?.resume(returning: false)
            }
        }
    }

    /// systemd loaded a unit (`UnitNew`, bus thread).
    func unitLoaded(_ path: String) {
        guard isTracked(path) else { return }
        state.withLock { state in
            if state.loaded.insert(path).inserted { changed() }
        }
    }

    /// systemd unloaded a unit (`UnitRemoved`, bus thread): a tracked unit keeps its last state; others are
    /// forgotten.
    func unitUnloaded(_ path: String) {
        let tracked = isTracked(path)
        state.withLock { state in
            if tracked {
                if state.loaded.remove(path) != nil { changed() }
            } else if state.entries.removeValue(forKey: path) != nil {
                changed()
            }
        }
    }

    /// A reload began (`Reloading(true)`, bus thread): entries of units systemd holds are dropped (a reload may
    /// change them); the last states of tracked units it does not hold stay.
    func reloadBegan() {
        state.withLock { state in
            let keep = state.complete ? state.entries.filter { isTracked($0.key) && !state.loaded.contains($0.key) } : [:]
            state.entries = keep
            state.complete = false
            changed()
        }
    }

    // MARK: reading

    /// What the cache knows of the unit at `path`.
    func lookup(_ path: String, name: String) -> Lookup {
        lookups([path], names: [name])[0]
    }

    /// What the cache knows of the units at `paths`, under one lock.
    func lookups(_ paths: [String], names: [String]) -> [Lookup] {
        let tracked = trackedPathPrefix
        return state.withLock { state in
            paths.indices.map { i in
                let path = paths[i]
                let isTracked = tracked.map { path.hasPrefix($0) } ?? false
                if var status = state.entries[path]?.status {
                    status.isLoaded = !isTracked || !state.complete || state.loaded.contains(path)
                    return .status(status)
                }
                guard isTracked else { return .unknown }
                guard state.complete else { return .pending }
                return state.loaded.contains(path) ? .unknown : .status(UnitStatus(unloaded: names[i]))
            }
        }
    }

    /// The cached properties of the unit at `path`, if an entry exists.
    func properties(_ path: String) -> [String: BusValue]? {
        state.withLock { $0.entries[path]?.properties }
    }

    /// True when an entry exists for `path` (signals for it are applied).
    func hasEntry(_ path: String) -> Bool {
        state.withLock { $0.entries[path] != nil }
    }

    // MARK: writing (bus thread)

    /// Stores what a `GetAll` answered. Reading a unit's properties loads it, so a tracked unit is loaded now.
    func store(_ path: String, _ properties: [String: BusValue]) {
        let kept = properties.filter { Self.cacheable.contains($0.key) }
        let tracked = isTracked(path)
        state.withLock { state in
            if state.entries.count >= limit, state.entries[path] == nil { state.entries.removeAll(keepingCapacity: true) }
            state.entries[path] = Entry(kept)
            if tracked { state.loaded.insert(path) }
            changed()
        }
    }

    /// Applies a `PropertiesChanged` signal: changed values replace cached ones; an invalidated property we keep
    /// drops the entry, so that the next read asks systemd.
    func apply(path: String, changed: [String: BusValue], invalidated: [String]) {
        state.withLock { state in
            guard var properties = state.entries[path]?.properties else { return }
            if invalidated.contains(where: Self.cacheable.contains) {
                state.entries[path] = nil
                self.changed()
                return
            }
            for (name, value) in changed where Self.cacheable.contains(name) { properties[name] = value.unwrapped }
            state.entries[path] = Entry(properties)
            self.changed()
        }
    }

    /// Forgets one unit's entry.
    func remove(_ path: String) {
        state.withLock { state in
            if state.entries.removeValue(forKey: path) != nil { changed() }
        }
    }

    /// Forgets everything (a new connection): the loaded set must be listed again.
    func removeAll() {
        state.withLock { state in
            state.entries.removeAll()
            state.loaded.removeAll()
            state.complete = false
            changed()
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}
