#if canImport(Glibc)
    public import Glibc
#endif

/// Whole files written so that a crash never leaves a torn one: the bytes go to a temporary file in the same
/// folder, are fsynced, renamed into place, and the folder is fsynced. For the state every part of geard keeps (the
/// agent's definitions and jobs, the authorizer's ledger of used tokens).
public enum AtomicFile {
    /// The prefix of the temporary files it writes: a start may remove those a crash left.
    public static let temporaryPrefix = ".tmp-"

    /// Writes `bytes` to `path` atomically, with `mode` (whatever the umask).
    public static func write(_ path: String, _ bytes: some Collection<UInt8>, mode: mode_t = 0o644) throws(SystemError) {
        let (directory, name) = split(path)
        let temporary = "\(directory)/\(temporaryPrefix)\(name)-\(UInt32.random(in: 0...UInt32.max))"
        do throws(SystemError) {
            let file = try OwnedDescriptor(opening: temporary, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
            let data = Array(bytes)
            let fd = file.raw
            let written = data.withUnsafeBytes { raw in
                Result { () throws(SystemError) in try SystemCall.writeAll(fd, raw, "write \(temporary)") }
            }
            try written.get()
            _ = fchmod(fd, mode)  // the umask may have narrowed it
            _ = try SystemCall.checked("fsync \(temporary)", { fsync(fd) })
            try file.close("close \(temporary)")
            _ = try SystemCall.checked("rename \(path)", { rename(temporary, path) })
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    /// The contents of a file, or nil when it does not exist.
    public static func read(_ path: String) throws(SystemError) -> [UInt8]? {
        let opened = SystemCall.retryingInterrupts { open(path, O_RDONLY | O_CLOEXEC) }
        if opened < 0 {
            if errno == ENOENT { return nil }
            throw SystemError(errno: errno, operation: "open \(path)")
        }
        let file = OwnedDescriptor(owning: opened)
        let fd = file.raw
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in SystemCall.retryingInterrupts { Glibc.read(fd, raw.baseAddress!, raw.count) } }
            if n < 0 { throw SystemError(errno: errno, operation: "read \(path)") }
            if n == 0 { return result }
            result += buffer[0..<n]
        }
    }

    /// fsyncs a folder so that a rename or unlink in it is durable.
    public static func syncDirectory(_ path: String) {
        let fd = SystemCall.retryingInterrupts { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { return }
        // Bound to a name: a temporary owner would close the descriptor before fsync ran.
        let directory = OwnedDescriptor(owning: fd)
        fsync(directory.raw)
    }

    /// The folder and the name of `path`.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}

extension SystemError {
    /// The file system is full (`ENOSPC`) or the quota is spent (`EDQUOT`).
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}
