import AsyncAlgorithms
public import Foundation
public import GearAPI
import GearSystem
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What an exec writes, as it comes.
public enum ExecOutput: Sendable {
    case stdout([UInt8])
    case stderr([UInt8])
}

/// How an exec ended.
public struct ExecExit: Sendable, Hashable {
    /// The exit code when the command exited, nil when a signal ended it.
    public var exitCode: Int?
    public var signal: Int?
    /// It ran past its timeout and was killed.
    public var timedOut: Bool
}

/// One command running inside a container (`NodeAgent.exec`): its output is read from two pipes by NIO (no thread
/// is held while it runs) and handed on as it comes, with backpressure (a client that reads slowly slows the reads,
/// nothing is buffered beyond a pipe). Its timeout and the cancellation of the task that runs it (a client gone)
/// kill its whole process group.
public final class ExecSession: Sendable {
    let arguments: [String]
    /// Nil: none.
    let timeout: Duration?
    /// Kills, with a signal, what the command runs that is not in its process group: the processes `podman exec`
    /// started inside the container, which outlive the podman client.
    let killInside: @Sendable (Int32) -> Void

    init(
        arguments: [String], timeout: Duration?, killInside: @escaping @Sendable (Int32) -> Void = { _ in }
    ) {
        self.arguments = arguments
        self.timeout = timeout
        self.killInside = killInside
    }

    /// The command line it runs (for logs and the audit trail).
    public var commandLine: [String] { arguments }

    /// Runs the command, handing its output to `emit` in order, and answers how it ended.
    public func run(_ emit: (ExecOutput) async throws -> Void) async throws -> ExecExit {
        let stdout = try Self.pipe()
        let stderr = try Self.pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(fileDescriptor: stdout.write, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: stderr.write, closeOnDealloc: false)
        let (ended, ending) = AsyncStream<(Int32, Process.TerminationReason)>.makeStream()
        process.terminationHandler = { process in
            ending.yield((process.terminationStatus, process.terminationReason))
            ending.finish()
        }
        do {
            try process.run()
        } catch {
            for fd in [stdout.read, stdout.write, stderr.read, stderr.write] { close(fd) }
            throw GearError(.internal, "cannot start \(arguments.first ?? "?"): \(error)")
        }
        // The child has its ends; the pipes end when it (and what it started) closes them.
        close(stdout.write)
        close(stderr.write)
        let pid = process.processIdentifier
        let killer = GroupKiller(pid: pid, also: killInside)
        let timeout = self.timeout
        return try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let timeout {
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        killer.timedOut.store(true, ordering: .relaxed)
                        killer.kill()
                    }
                }
                let out = try await Self.channel(stdout.read)
                let err = try await Self.channel(stderr.read)
                try await out.executeThenClose { outInbound in
                    try await err.executeThenClose { errInbound in
                        let merged = merge(
                            outInbound.map { ExecOutput.stdout(Array($0.readableBytesView)) },
                            errInbound.map { ExecOutput.stderr(Array($0.readableBytesView)) })
                        for try await output in merged { try await emit(output) }
                    }
                }
                var status: (Int32, Process.TerminationReason)? = nil
                for await value in ended { status = value }
                group.cancelAll()
                let (code, reason) = status ?? (-1, .uncaughtSignal)
                return ExecExit(
                    exitCode: reason == .exit ? Int(code) : nil, signal: reason == .uncaughtSignal ? Int(code) : nil,
                    timedOut: killer.timedOut.load(ordering: .relaxed))
            }
        } onCancel: {
            killer.kill()
        }
    }

    static func pipe() throws(GearError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw GearError(.internal, "pipe: \(String(cString: strerror(errno)))") }
        // Not inherited by other children geard starts (podman for images); Process gives the child its own copies.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    static func channel(_ fd: Int32) async throws -> NIOAsyncChannel<ByteBuffer, Never> {
        try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton).takingOwnershipOfDescriptor(input: fd) { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel) }
        }
    }
}

/// Kills a process group (and what `also` kills): SIGTERM, then SIGKILL a second later if it is still there.
final class GroupKiller: Sendable {
    let pid: Int32
    let also: @Sendable (Int32) -> Void
    private let done = Atomic<Bool>(false)
    /// Set when the kill was the timeout's.
    let timedOut = Atomic<Bool>(false)

    init(pid: Int32, also: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.pid = pid
        self.also = also
    }

    func kill() {
        guard !done.exchange(true, ordering: .relaxed) else { return }
        let (pid, also) = (self.pid, self.also)
        also(SIGTERM)
        _ = Glibc.kill(-pid, SIGTERM)
        Task {
            try? await Task.sleep(for: .seconds(1))
            also(SIGKILL)
            _ = Glibc.kill(-pid, SIGKILL)
        }
    }
}
