import CoreMetrics

/// Turns a burst of "please daemon-reload" requests into as few `Reload` calls as correctness allows.
///
/// A caller that changed unit files needs a reload that *starts after* its change. Callers that arrive while a
/// reload runs are batched into the next one, which starts as soon as the running one ends; so N concurrent
/// installs cost about two reloads, not N.
public actor ReloadCoalescer {
    private let reload: @Sendable () async throws -> Void
    private var inFlight = false
    private var waiting: [CheckedContinuation<Void, any Error>] = []
    private let coalesce: Bool
    /// How many reloads were done.
    public private(set) var reloads = 0

    /// - Parameter coalesce: false reloads once per request (the naive way, kept to measure against).
    public init(coalesce: Bool = true, reload: @escaping @Sendable () async throws -> Void) {
        self.reload = reload
        self.coalesce = coalesce
    }

    /// Returns once a reload that started after this call has finished.
    public func reloadNow() async throws {
        guard coalesce else {
            reloads += 1
            AgentMetrics.reloaded()
            try await reload()
            return
        }
        try await withCheckedThrowingContinuation { continuation in
            waiting.append(continuation)
            if !inFlight { startBatch() }
        }
    }

    private func startBatch() {
        inFlight = true
        let batch = waiting
        waiting.removeAll()
        reloads += 1
        AgentMetrics.reloaded()
        Task {
            let result: Result<Void, any Error>
            do {
                try await reload()
                result = .success(())
            } catch {
                result = .failure(error)
            }
            self.finish(batch, result)
        }
    }

    private func finish(_ batch: [CheckedContinuation<Void, any Error>], _ result: Result<Void, any Error>) {
        for continuation in batch { continuation.resume(with: result) }
        inFlight = false
        if !waiting.isEmpty { startBatch() }
    }
}
