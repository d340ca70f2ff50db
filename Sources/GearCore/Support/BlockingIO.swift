import NIOPosix

/// Runs blocking work (file writes with fsync, journal reads) on a thread pool, off the cooperative pool that
/// serves requests.
enum BlockingIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
