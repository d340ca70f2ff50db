#if canImport(Glibc)
    public import Glibc
#endif

/// Pseudo-terminals: the side geard keeps (the controller) and the path of the side a command gets.
public enum PseudoTerminal {
    /// A new terminal pair from `/dev/ptmx`, non-blocking on geard's side. (`posix_openpt`, `unlockpt` and
    /// `ptsname_r` are what this does, but Swift's Glibc module leaves them out; `grantpt` has nothing to do on
    /// devpts.)
    /// - Returns: the controller (the caller's to close) and `/dev/pts/N`.
    public static func open() throws(SystemError) -> (controller: Int32, path: String) {
        let fd = try SystemCall.checked("open /dev/ptmx", { Glibc.open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK) })
        let controller = OwnedDescriptor(owning: fd)
        // TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN = _IOR('T', 0x30, unsigned int) (asm-generic).
        var unlock: Int32 = 0
        _ = try SystemCall.checked("unlock the terminal", { ioctl(fd, UInt(0x4004_5431), &unlock) })
        var number: UInt32 = 0
        _ = try SystemCall.checked("name the terminal", { ioctl(fd, UInt(0x8004_5430), &number) })
        return (controller.take(), "/dev/pts/\(number)")
    }

    /// Sets the terminal's size; the kernel tells its foreground process group (`SIGWINCH`).
    public static func resize(_ controller: Int32, width: Int, height: Int) throws(SystemError) {
        var size = winsize(ws_row: UInt16(clamping: height), ws_col: UInt16(clamping: width), ws_xpixel: 0, ws_ypixel: 0)
        _ = try SystemCall.checked("TIOCSWINSZ", { ioctl(controller, UInt(TIOCSWINSZ), &size) })
    }
}

/// Starting a command as the leader of a session of its own, and learning how it ended.
public enum SessionProcess {
    /// What the command's stdin, stdout and stderr are.
    public enum Stdio: Sendable {
        /// The terminal at this path (`/dev/pts/N`), which becomes the session's controlling terminal.
        case terminal(String)
        /// These descriptors (the child's ends of pipes; they stay open in geard).
        case descriptors(stdin: Int32, stdout: Int32, stderr: Int32)
    }

    /// Spawns `arguments` (`arguments[0]` an absolute path) with `environment` in a new session (`setsid`), so that
    /// it and what it starts are one process group to signal; every signal at its default, none blocked.
    public static func spawn(_ arguments: [String], environment: [String], stdio: Stdio) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        switch stdio {
        case .terminal(let path):
            // Opened after setsid, without O_NOCTTY: the session's controlling terminal.
            posix_spawn_file_actions_addopen(&actions, 0, path, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
        case .descriptors(let stdin, let stdout, let stderr):
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
            posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        // POSIX_SPAWN_SETSID (glibc 2.26).
        let setsid: Int16 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | setsid)
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw SystemError(errno: result, operation: "spawn \(arguments[0])") }
        return pid
    }

    /// How a process ended.
    public enum Ending: Sendable, Hashable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// The ending of child `pid` once it has ended (reaped), nil while it runs.
    public static func reap(_ pid: pid_t) -> Ending? {
        var status: Int32 = 0
        let result = SystemCall.retryingInterrupts { waitpid(pid, &status, WNOHANG) }
        guard result == pid else { return result < 0 ? .exited(-1) : nil }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}
