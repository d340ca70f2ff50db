import ServiceLifecycle

/// Ends followed streams (`/events`, logs) when geard shuts down.
///
/// geard's listeners stop accepting and wait for the requests in flight before the agent stops; a follow never
/// ends by itself, so without this one open `curl -N .../events` kept geard from exiting until systemd killed it.
enum FollowShutdown {
    /// Runs `operation` until it returns or geard begins a graceful shutdown. On shutdown the operation is
    /// cancelled, waited for, and this returns normally, so that the caller ends its response cleanly.
    static func untilShutdown(_ operation: () async throws -> Void) async throws {
        try await withoutActuallyEscaping(operation) { operation in
            let follow = Unchecked(operation)
            let (shutdown, signal) = AsyncStream<Void>.makeStream()
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await follow.value()
                        return true
                    }
                    group.addTask {
                        for await _ in shutdown {}
                        return false
                    }
                    let ended = try await group.next() ?? true
                    group.cancelAll()
                    if !ended {
                        // The follow was cancelled by the shutdown: its CancellationError is the expected end.
                        _ = try? await group.next()
                    }
                }
            } onGracefulShutdown: {
                signal.finish()
            }
            signal.finish()
        }
    }

    /// A value handed to a child task that runs strictly inside the caller's scope (the task group above).
    private struct Unchecked<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }
}
