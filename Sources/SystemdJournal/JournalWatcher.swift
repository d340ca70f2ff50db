import Foundation
import Synchronization

/// Tells any number of waiters that the journal changed, from one thread and one journal handle.
///
/// Followers of a log do not each block a thread in `sd_journal_wait`, nor each hold an inotify instance (the
/// kernel allows 128 per user by default): they read what is there, then await `change(after:)`; one watcher
/// thread waits on the journal and wakes them all when something is appended, files rotate (`epoch`), or (as a
/// safety net, and so that followers notice deleted containers) every `tick`.
public final class JournalWatcher: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var epoch: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter: UInt64 = 0
        var started = false
        var stopped = false
    }

    private let state = Mutex(State())
    private let tickMicroseconds: UInt64

    /// - Parameter tick: the longest a waiter waits without being woken.
    public init(tick: Duration = .seconds(1)) {
        let (seconds, attoseconds) = tick.components
        tickMicroseconds = UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
    }

    /// The current generation: it grows with every change.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Grows whenever journal files were added or removed (rotation, vacuuming). A reader opened in an earlier
    /// epoch may miss files that appeared since: reopen it and seek to where it was.
    public var epoch: UInt64 { state.withLock { $0.epoch } }

    /// True once `stop()` was called: followers end.
    public var isStopped: Bool { state.withLock { $0.stopped } }

    /// Returns as soon as the generation is past `generation` (at once if it already is). Throws
    /// `CancellationError` when the task is cancelled while waiting.
    public func change(after generation: UInt64) async throws {
        try startIfNeeded()
        let key = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: (any Error)?? = state.withLock { state in
                    if Task.isCancelled { return .some(CancellationError()) }
                    if state.generation > generation || state.stopped { return .some(nil) }
                    state.waiters[key] = continuation
                    return .none
                }
                if let resumeNow {
                    if let error = resumeNow { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let continuation = state.withLock { $0.waiters.removeValue(forKey: key) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Like `change(after:)`, but gives up after `timeout`: answers true for a change, false when the time ran out.
    public func change(after generation: UInt64, timeout: Duration) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.change(after: generation)
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }

    /// Wakes everybody (also used by tests and when the journal cannot be watched).
    public func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Ends the watcher thread (within one tick) and releases all waiters.
    public func stop() {
        state.withLock { $0.stopped = true }
        signal()
    }

    private func startIfNeeded() throws {
        let start = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started && !state.stopped
        }
        guard start else { return }
        let reader: JournalReader
        do {
            reader = try JournalReader()
            try reader.watch()
        } catch {
            state.withLock { $0.started = false }
            throw error
        }
        let box = ReaderBox(reader)
        let thread = Thread { [self] in self.loop(box.reader) }
        thread.name = "gear-journal-watch"
        thread.start()
    }

    private func loop(_ reader: JournalReader) {
        while !state.withLock({ $0.stopped }) {
            if reader.wait(timeoutMicroseconds: tickMicroseconds) == .invalidate {
                state.withLock { $0.epoch &+= 1 }
            }
            signal()
        }
    }
}

/// Hands a reader to the one thread that will use it.
private final class ReaderBox: @unchecked Sendable {
    let reader: JournalReader
    init(_ reader: JournalReader) { self.reader = reader }
}
