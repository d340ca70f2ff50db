import Foundation
public import GearCore
import Synchronization

/// An in-memory stand-in for systemd, for unit tests of the agent's queue and bookkeeping (integration tests use
/// the real systemd). Links and enables by making the symlinks systemd would make in the unit directory. Like
/// systemd, it holds a unit loaded from its first start until it stops (then it "collects" it), and a reload
/// counts only for the units it holds.
public final class MemorySystemd: SystemdControl, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is inside `state`, a Mutex.
    struct State {
        var active: [String: UInt32] = [:]
        var nextPID: UInt32 = 100
        var operations: [String] = []
        var reloads = 0
        /// Units named in a `*.wants` folder when systemd last reloaded: they stay loaded until the next reload.
        var wantedAtReload: Set<String> = []
        var failingStarts: Set<String> = []
        var gates: [String: [CheckedContinuation<Void, Never>]] = [:]
        var gated: Set<String> = []
        var maxConcurrent = 0
        var concurrent = 0
        /// Transient units whose program ended (with `RemainAfterExit=`): they stay `active`/`exited`.
        var exited: Set<String> = []
    }

    let state = Mutex(State())
    public let unitDirectory: String
    /// How long a reload takes (a real one takes 100 ms or more; installs that arrive meanwhile share the next).
    let reloadDuration: Duration

    public init(unitDirectory: String, reloadDuration: Duration = .milliseconds(30)) {
        self.unitDirectory = unitDirectory
        self.reloadDuration = reloadDuration
    }

    /// What was asked of it, in order (`start ctr-a.service`, `link ctr-a.service`, ...).
    public var operations: [String] { state.withLock { $0.operations } }
    /// How many reloads were asked for.
    public var reloads: Int { state.withLock { $0.reloads } }
    /// The most starts that ran at once.
    public var maxConcurrent: Int { state.withLock { $0.maxConcurrent } }

    /// Makes starts of `unit` wait until `release(unit)`.
    public func hold(_ unit: String) { state.withLock { _ = $0.gated.insert(unit) } }

    /// Lets the starts of `unit` held by `hold` go on.
    public func release(_ unit: String) {
        let waiters = state.withLock { s in
            s.gated.remove(unit)
            return s.gates.removeValue(forKey: unit) ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Makes every start of `unit` fail.
    public func failStarts(of unit: String) { state.withLock { _ = $0.failingStarts.insert(unit) } }

    private func record(_ operation: String) { state.withLock { $0.operations.append(operation) } }

    private func gate(_ unit: String) async {
        let held = state.withLock { $0.gated.contains(unit) }
        guard held else { return }
        await withCheckedContinuation { continuation in
            let stillHeld = state.withLock { s in
                if s.gated.contains(unit) {
                    s.gates[unit, default: []].append(continuation)
                    return true
                }
                return false
            }
            if !stillHeld { continuation.resume() }
        }
    }

    private func enter() {
        state.withLock { s in
            s.concurrent += 1; s.maxConcurrent = max(s.maxConcurrent, s.concurrent)
        }
    }
    private func leave() { state.withLock { $0.concurrent -= 1 } }

    public func link(_ paths: [String]) async throws {
        for path in paths {
            let name = (path as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: "\(unitDirectory)/\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(unitDirectory)/\(name)", withDestinationPath: path)
            record("link \(name)")
        }
    }

    public func enable(_ names: [String]) async throws {
        for name in names {
            let wants = "\(unitDirectory)/multi-user.target.wants"
            try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
            try? FileManager.default.createSymbolicLink(atPath: "\(wants)/\(name)", withDestinationPath: "\(unitDirectory)/\(name)")
            record("enable \(name)")
        }
    }

    public func disable(_ names: [String]) async throws {
        for name in names {
            try? FileManager.default.removeItem(atPath: "\(unitDirectory)/\(name)")
            try? FileManager.default.removeItem(atPath: "\(unitDirectory)/gear-active.target.wants/\(name)")
            record("disable \(name)")
        }
    }

    public func reload() async throws {
        let fm = FileManager.default
        let folders = ((try? fm.contentsOfDirectory(atPath: unitDirectory)) ?? []).filter { $0.hasSuffix(".wants") }
        let wanted = Set(folders.flatMap { (try? fm.contentsOfDirectory(atPath: "\(unitDirectory)/\($0)")) ?? [] })
        state.withLock {
            $0.reloads += 1
            $0.wantedAtReload = wanted
        }
        try await Task.sleep(for: reloadDuration)
    }

    public func isLoaded(_ unit: String) async throws -> Bool {
        state.withLock { $0.active[unit] != nil }
    }

    public func isPinned(_ unit: String) async throws -> Bool {
        state.withLock { $0.wantedAtReload.contains(unit) }
    }

    public func start(_ unit: String) async throws -> String {
        enter()
        defer { leave() }
        await gate(unit)
        record("start \(unit)")
        return state.withLock { s in
            if s.failingStarts.contains(unit) { return "failed" }
            if s.active[unit] == nil {
                s.nextPID += 1
                s.active[unit] = s.nextPID
            }
            return "done"
        }
    }

    public func stop(_ unit: String) async throws -> String {
        record("stop \(unit)")
        state.withLock {
            _ = $0.active.removeValue(forKey: unit)
            $0.exited.remove(unit)
        }
        return "done"
    }

    public func restart(_ unit: String) async throws -> String {
        record("restart \(unit)")
        state.withLock { s in
            s.nextPID += 1
            s.active[unit] = s.nextPID
        }
        return "done"
    }

    public func resetFailed(_ unit: String) async throws {}

    /// A transient unit whose program exits at once with status 0 (it stays `active`/`exited` until stopped).
    public func startTransient(_ unit: String, settings: [UnitSetting]) async throws -> String {
        record("start-transient \(unit)")
        state.withLock { s in
            s.nextPID += 1
            s.active[unit] = s.nextPID
            s.exited.insert(unit)
        }
        return "done"
    }

    public func status(_ unit: String) async throws -> UnitState {
        let (pid, exited) = state.withLock { ($0.active[unit], $0.exited.contains(unit)) }
        let linked = exited || FileManager.default.fileExists(atPath: "\(unitDirectory)/\(unit)")
        return UnitState(
            name: unit, loadState: linked ? "loaded" : "not-found", activeState: pid == nil ? "inactive" : "active",
            subState: pid == nil ? "dead" : exited ? "exited" : "running", mainPID: exited ? 0 : pid ?? 0, execMainCode: exited ? 1 : 0,
            result: "success")
    }

    public func list(patterns: [String]) async throws -> [UnitListing] {
        let active = state.withLock { $0.active }
        let linked = (try? FileManager.default.contentsOfDirectory(atPath: unitDirectory)) ?? []
        return linked.filter { $0.hasPrefix("ctr-") }.map { name in
            let running = active[name] != nil
            return UnitListing(name: name, loadState: "loaded", activeState: running ? "active" : "inactive", subState: running ? "running" : "dead")
        }
    }
    public func recentLog(_ unit: String, lines: Int) async -> [LogRecord] {
        [LogRecord(realtime: 0, cursor: "", message: Array("\(unit): simulated failure".utf8), pid: 1, identifier: "memory")]
    }
    public func version() async throws -> String { "252 (in-memory)" }

    public func ping() async throws {}
}
