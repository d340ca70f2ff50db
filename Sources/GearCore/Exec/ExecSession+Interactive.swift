import Foundation
public import GearAPI
import GearSystem
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How an interactive exec's command is wired: to a terminal, or to pipes.
public struct InteractiveOptions: Sendable, Hashable {
    /// The command reads the client's stdin; without it, stdin is empty (`/dev/null`, or a terminal nobody types in).
    public var stdin: Bool
    /// A terminal (stdout and stderr are one stream then).
    public var tty: Bool
    public var size: TerminalSize?

    public init(stdin: Bool, tty: Bool, size: TerminalSize? = nil) {
        self.stdin = stdin
        self.tty = tty
        self.size = size
    }
}

extension ExecSession {
    /// How long output that is still coming may take once the command has ended (what it wrote just before).
    static let drainAfterExit = Duration.milliseconds(300)

    /// Runs the command as the leader of a session of its own, with a terminal or pipes, feeding it `input` and
    /// handing its output to `emit` as it comes (with backpressure), until it ends: then whatever it left running
    /// in its process group is killed. The end of `input` (or its failure) means the client is gone: that, a
    /// timeout, or the cancellation of the calling task kills the whole group; the command is reaped either way
    /// (no zombie is left). `input` is read only as fast as the command takes its stdin.
    public func runInteractive(
        _ options: InteractiveOptions, input: some AsyncSequence<ExecInput, any Error> & Sendable,
        emit: @escaping @Sendable (ExecOutput) async throws -> Void
    ) async throws -> ExecExit {
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let wiring = try Wiring(options)
        let pid: pid_t
        do {
            pid = try SessionProcess.spawn(arguments, environment: environment, stdio: wiring.stdio)
        } catch {
            wiring.closeAll()
            throw GearError(.internal, "cannot start \(arguments.first ?? "?"): \(error)")
        }
        wiring.closeChildEnds()
        let killer = GroupKiller(pid: pid, also: killInside)
        let reaper = Reaper(pid: pid)
        let timeout = self.timeout
        do {
            return try await withTaskCancellationHandler {
                try await wiring.withChannels { output, errors, stdin in
                    let exit = await withThrowingTaskGroup(of: Void.self) { group in
                        // Output: read until every writer of the terminal or pipes is gone.
                        let outputDone = AsyncStream<Void>.makeStream()
                        group.addTask {
                            try await withThrowingTaskGroup(of: Void.self) { readers in
                                readers.addTask { try await Self.pump(output, .stdout, emit) }
                                if let errors { readers.addTask { try await Self.pump(errors, .stderr, emit) } }
                                try await readers.waitForAll()
                            }
                            outputDone.continuation.finish()
                        }
                        group.addTask {
                            defer { if !Task.isCancelled { killer.kill() } }
                            for try await message in input {
                                switch message {
                                case .stdin(let bytes):
                                    try? await stdin?.write(ByteBuffer(bytes: bytes))
                                case .closeStdin:
                                    if !options.tty { stdin?.finish() }
                                case .resize(let size):
                                    if let terminal = wiring.terminal, size.isValid {
                                        try? PseudoTerminal.resize(terminal, width: size.width, height: size.height)
                                    }
                                }
                            }
                        }
                        if let timeout {
                            group.addTask {
                                try await Task.sleep(for: timeout)
                                killer.timedOut.store(true, ordering: .relaxed)
                                killer.kill()
                            }
                        }
                        let ending = await reaper.ended()
                        // What it wrote just before it ended, then nothing of it stays behind.
                        await withTaskGroup(of: Void.self) { drain in
                            drain.addTask { for await _ in outputDone.stream {} }
                            drain.addTask { try? await Task.sleep(for: Self.drainAfterExit) }
                            await drain.next()
                            drain.cancelAll()
                        }
                        _ = Glibc.kill(-pid, SIGKILL)
                        group.cancelAll()
                        switch ending {
                        case .exited(let code):
                            return ExecExit(exitCode: Int(code), signal: nil, timedOut: killer.timedOut.load(ordering: .relaxed))
                        case .signaled(let signal):
                            return ExecExit(exitCode: nil, signal: Int(signal), timedOut: killer.timedOut.load(ordering: .relaxed))
                        }
                    }
                    // Every task that used the descriptors has ended.
                    wiring.closeAll()
                    return exit
                }
            } onCancel: {
                killer.kill()
            }
        } catch {
            // Cancelled or failed: the group is being killed; reap the command when it is gone.
            killer.kill()
            wiring.closeAll()
            Task.detached { _ = await reaper.ended() }
            throw error
        }
    }

    private static func pump(
        _ channel: NIOAsyncChannelInboundStream<ByteBuffer>, _ stream: ExecChannel, _ emit: @Sendable (ExecOutput) async throws -> Void
    ) async throws {
        do {
            for try await chunk in channel {
                let bytes = Array(chunk.readableBytesView)
                try await emit(stream == .stderr ? .stderr(bytes) : .stdout(bytes))
            }
        } catch let error as IOError where error.errnoCode == EIO {
            // A terminal whose last writer closed it reads EIO: its end of output.
        }
    }
}

/// Waits for a child to end by polling `waitpid(WNOHANG)`: every 5 ms at first, backing off to every 200 ms
/// (a session that runs long costs a system call per 200 ms, and no thread).
final class Reaper: Sendable {
    let pid: pid_t

    init(pid: pid_t) { self.pid = pid }

    func ended() async -> SessionProcess.Ending {
        var interval = Duration.milliseconds(5)
        while true {
            if let ending = SessionProcess.reap(pid) { return ending }
            // Not cancellable: a reaper must reap.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(interval / .nanoseconds(1)))) {
                    continuation.resume()
                }
            }
            interval = min(interval * 2, .milliseconds(200))
        }
    }
}

/// The descriptors between geard and an interactive command: a terminal, or three pipes (stdin only when the
/// command reads the client's).
private final class Wiring: @unchecked Sendable {
    /// geard's side of the terminal (for resizes); NIO reads and writes a copy of it.
    let terminal: Int32?
    let stdio: SessionProcess.Stdio
    private var parentEnds: [Int32]
    private var childEnds: [Int32]
    private let lock = NSLock()

    init(_ options: InteractiveOptions) throws(GearError) {
        do {
            if options.tty {
                let (controller, path) = try PseudoTerminal.open()
                terminal = controller
                stdio = .terminal(path)
                parentEnds = [controller]
                if let size = options.size, size.isValid {
                    do {
                        try PseudoTerminal.resize(controller, width: size.width, height: size.height)
                    } catch {
                        close(controller)
                        throw error
                    }
                }
                childEnds = []
            } else {
                let stdin = options.stdin ? try ExecSession.pipe() : (read: try Self.devNull(), write: -1)
                let stdout = try ExecSession.pipe()
                let stderr = try ExecSession.pipe()
                terminal = nil
                stdio = .descriptors(stdin: stdin.read, stdout: stdout.write, stderr: stderr.write)
                parentEnds = [stdout.read, stderr.read] + (stdin.write >= 0 ? [stdin.write] : [])
                childEnds = [stdin.read, stdout.write, stderr.write]
            }
        } catch let error as SystemError {
            throw GearError(.internal, "cannot set up the command's terminal: \(error)")
        } catch {
            throw GearError(.internal, "\(error)")
        }
    }

    static func devNull() throws(SystemError) -> Int32 {
        try SystemCall.checked("open /dev/null", { open("/dev/null", O_RDONLY | O_CLOEXEC) })
    }

    /// The child has its copies: geard's copies of the child's ends go (so that the pipes end with the child).
    func closeChildEnds() {
        lock.withLock {
            for fd in childEnds { close(fd) }
            childEnds = []
        }
    }

    /// Closes whatever geard still holds (NIO closes what it took over itself).
    func closeAll() {
        lock.withLock {
            for fd in childEnds + parentEnds { close(fd) }
            childEnds = []
            parentEnds = []
        }
    }

    /// Hands the reading ends (and stdin's writing end) to NIO for the duration of `body`.
    func withChannels<T: Sendable>(
        _ body: (
            _ output: NIOAsyncChannelInboundStream<ByteBuffer>, _ errors: NIOAsyncChannelInboundStream<ByteBuffer>?,
            _ stdin: NIOAsyncChannelOutboundWriter<ByteBuffer>?
        ) async throws -> T
    ) async throws -> T {
        let bootstrap = NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        let wrap: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        if let terminal {
            let copy = dup(terminal)
            guard copy >= 0 else { throw GearError(.internal, "dup: \(String(cString: strerror(errno)))") }
            let channel = try await bootstrap.takingOwnershipOfDescriptor(inputOutput: copy, channelInitializer: wrap)
            return try await channel.executeThenClose { inbound, outbound in try await body(inbound, nil, outbound) }
        }
        let (stdoutFD, stderrFD, stdinFD): (Int32, Int32, Int32?) = lock.withLock {
            let ends = parentEnds
            parentEnds = []
            return (ends[0], ends[1], ends.count > 2 ? ends[2] : nil)
        }
        let stdout = try await bootstrap.takingOwnershipOfDescriptor(input: stdoutFD, channelInitializer: wrap)
        let stderr = try await bootstrap.takingOwnershipOfDescriptor(input: stderrFD, channelInitializer: wrap)
        // Finishing the writer closes the pipe: the command reads end of file.
        let writer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
        let stdin = try await stdinFD.asyncMap { try await bootstrap.takingOwnershipOfDescriptor(output: $0, channelInitializer: writer) }
        return try await stdout.executeThenClose { out, _ in
            try await stderr.executeThenClose { err, _ in
                if let stdin {
                    return try await stdin.executeThenClose { _, writer in try await body(out, err, writer) }
                }
                return try await body(out, err, nil)
            }
        }
    }
}

extension Optional {
    fileprivate func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async throws -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
