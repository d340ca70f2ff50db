public import Foundation
public import GearAPI
import GearArchive
import GearSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The file operations geard's state needs, done so that a crash never leaves a torn file: writes go to a
/// temporary file in the same folder, are fsynced, renamed into place, and the folder is fsynced.
///
/// All calls block; callers run them through `BlockingIO`. `read` and `writeAtomically` are public for the state
/// other targets keep (the authorization target's token ledger).
public enum FileSystem {
    static let temporaryPrefix = AtomicFile.temporaryPrefix

    /// Throws a `GearError` for a failed system call: `.diskFull` for ENOSPC/EDQUOT, `.internal` otherwise.
    static func failure(_ operation: String, _ path: String, errno code: Int32 = errno) -> GearError {
        GearError(systemCall: "\(operation) \(path)", errno: code)
    }

    /// Retries a system call interrupted by a signal.
    @discardableResult
    static func call(_ operation: String, _ path: String, _ body: () -> Int32) throws(GearError) -> Int32 {
        let r = SystemCall.retryingInterrupts(body)
        if r >= 0 { return r }
        throw failure(operation, path)
    }

    /// Writes `bytes` to `path` atomically with `mode`.
    public static func writeAtomically(_ path: String, _ bytes: some Collection<UInt8>, mode: mode_t = 0o644) throws(GearError) {
        do {
            try AtomicFile.write(path, bytes, mode: mode)
        } catch {
            throw GearError(systemCall: error.operation, errno: error.errno)
        }
    }

    static func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o644) throws(GearError) {
        try writeAtomically(path, Array(text.utf8), mode: mode)
    }

    /// fsyncs a folder so that a rename or unlink in it is durable.
    static func syncDirectory(_ path: String) { AtomicFile.syncDirectory(path) }

    /// The contents of a file, or nil when it does not exist.
    public static func read(_ path: String) throws(GearError) -> [UInt8]? {
        do {
            return try AtomicFile.read(path)
        } catch {
            throw GearError(systemCall: error.operation, errno: error.errno)
        }
    }

    static func readText(_ path: String) throws(GearError) -> String? {
        try read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Creates a folder and its parents (like `mkdir -p`), with `mode` for the ones it creates.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(GearError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0, errno != EEXIST {
                throw failure("mkdir", current)
            }
        }
    }

    /// Removes a file or symlink; a missing one is fine.
    static func remove(_ path: String) throws(GearError) {
        if unlink(path) != 0, errno != ENOENT {
            throw failure("unlink", path)
        }
    }

    /// Removes a folder and everything in it, never following symlinks out of it (see `VolumeTree.removeTree`);
    /// missing is fine.
    static func removeTree(_ path: String) throws(GearError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let opened = SystemCall.retryingInterrupts { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard opened >= 0 else {
            if errno == ENOENT { return }
            throw failure("open", directory)
        }
        let parent = OwnedDescriptor(owning: opened)
        try VolumeTree.removeTree(parent.raw, name, shown: path)
    }

    /// The names in a folder (without `.` and `..`); empty when it does not exist.
    static func list(_ path: String) throws(GearError) -> [String] {
        let opened = SystemCall.retryingInterrupts { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard opened >= 0 else {
            if errno == ENOENT { return [] }
            throw failure("opendir", path)
        }
        let directory = OwnedDescriptor(owning: opened)
        do {
            return try ConfinedTree.names(directory.raw)
        } catch {
            throw GearError(error)
        }
    }

    /// The target of a symlink, or nil when `path` is not one.
    static func symlinkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Makes `path` a symlink to `target`, replacing what was there atomically.
    static func setSymlink(_ path: String, to target: String) throws(GearError) {
        if symlinkTarget(path) == target { return }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory)
        let temporary = "\(directory)/\(temporaryPrefix)\((path as NSString).lastPathComponent)-\(UInt32.random(in: 0...UInt32.max))"
        try call("symlink", temporary) { symlink(target, temporary) }
        do {
            try call("rename", path) { rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws(GearError) {
        try call("chown", path) { lchown(path, uid, gid) }
    }

    /// Removes temporary files a crash left behind in `directory`.
    static func removeTemporaryFiles(in directory: String) throws(GearError) {
        for name in try list(directory) where name.hasPrefix(temporaryPrefix) {
            try remove("\(directory)/\(name)")
        }
    }

    /// The canonical path of an existing directory (symlinks resolved), or nil when it is not one.
    static func resolvedDirectory(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        var info = stat()
        let canonical = String(cString: resolved)
        guard stat(canonical, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
        return canonical
    }
}
