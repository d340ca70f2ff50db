import Synchronization

/// Calls `ready` once every listener is bound.
final class Readiness: Sendable {
    private let remaining: Mutex<Int>
    private let ready: @Sendable () -> Void

    init(expected: Int, ready: @escaping @Sendable () -> Void) {
        self.remaining = Mutex(expected)
        self.ready = ready
    }

    func bound() {
        let now = remaining.withLock { count in
            count -= 1
            return count
        }
        if now == 0 { ready() }
    }
}
