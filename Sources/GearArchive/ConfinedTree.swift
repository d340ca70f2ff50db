import Foundation
public import GearSystem

#if canImport(Glibc)
    public import Glibc
#endif

/// File operations that stay beneath a directory whatever is in it: every walk goes one component at a time with
/// `openat(..., O_NOFOLLOW)` relative to the directory already open, so a symlink anywhere on a path is refused
/// (never followed) and a directory swapped for a symlink during the work makes the next step fail instead of
/// leading out. Files are opened `O_PATH` first and reopened for reading only once `fstat` says they are regular,
/// so a FIFO or device node is never opened. All calls block.
public enum ConfinedTree {
    /// `O_PATH`: a descriptor that names an inode without opening it for I/O.
    public static let pathOnlyFlag: Int32 = 0o10_000_000
    /// How deep a walk goes before giving up (each level holds a descriptor).
    public static let maxDepth = 4096

    /// Opens the directory `name` in `parent` without following a symlink; creates it (then owned by `owner`,
    /// when given) with `create`.
    public static func openDirectory(
        _ parent: Int32, _ name: String, create: Bool, mode: mode_t = 0o755, owner: (uid: uid_t, gid: gid_t)? = nil, shown: String
    ) throws(ArchiveError) -> OwnedDescriptor {
        var created = false
        while true {
            let fd = SystemCall.retryingInterrupts { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd >= 0 { return OwnedDescriptor(owning: fd) }
            let code = errno
            switch code {
            case ENOENT where create && !created:
                if mkdirat(parent, name, mode) != 0 && errno != EEXIST { throw ArchiveError.system("mkdir", shown) }
                if let owner { _ = fchownat(parent, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
                created = true
            case ENOENT:
                throw ArchiveError(.notFound, "\(shown) does not exist")
            case ELOOP, ENOTDIR:
                throw refusal(parent, name, shown: shown, expected: "a directory")
            default:
                throw ArchiveError.system("open", shown, errno: code)
            }
        }
    }

    /// Opens the directory at `components` below `root`, creating missing ones with `create`.
    public static func walk(
        _ root: Int32, _ components: [String], create: Bool, owner: (uid: uid_t, gid: gid_t)? = nil, shown base: String = ""
    ) throws(ArchiveError) -> OwnedDescriptor {
        let copy = dup(root)
        guard copy >= 0 else { throw ArchiveError.system("dup", base) }
        var current = OwnedDescriptor(owning: copy)
        var shown = base
        for component in components {
            shown += "/" + component
            // The directory above closes once the next one is open (or, on a failure, as the error leaves).
            current = try openDirectory(current.raw, component, create: create, owner: owner, shown: shown)
        }
        return current
    }

    /// Why `name` in `parent` cannot be used: a symlink (refused), or not the kind of entry expected.
    public static func refusal(_ parent: Int32, _ name: String, shown: String, expected: String) -> ArchiveError {
        var info = stat()
        if fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
            let target = readLink(parent, name).map { " (to \(String($0.prefix(200))))" } ?? ""
            return ArchiveError(.forbidden, "\(shown) is a symlink\(target); symlinks are not followed")
        }
        return ArchiveError(.conflict, "\(shown) is not \(expected)")
    }

    public static func readLink(_ parent: Int32, _ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(parent, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in the directory open at `fd`, without `.` and `..` (the descriptor stays open).
    public static func names(_ fd: Int32) throws(ArchiveError) -> [String] {
        let copy = dup(fd)
        guard copy >= 0 else { throw ArchiveError.system("opendir", "a directory") }
        let owned = OwnedDescriptor(owning: copy)
        guard let directory = fdopendir(owned.raw) else { throw ArchiveError.system("opendir", "a directory") }
        _ = owned.take()  // the stream has it now: closedir closes it
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(cString: raw.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes the tree `name` in `parent` without following symlinks: a symlink swapped in for a directory is
    /// unlinked, never descended into.
    public static func removeTree(_ parent: Int32, _ name: String, shown: String, depth: Int = 0) throws(ArchiveError) {
        guard depth < maxDepth else { throw ArchiveError(.conflict, "\(shown) is deeper than \(maxDepth) levels") }
        let opened = SystemCall.retryingInterrupts { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if opened < 0 {
            switch errno {
            case ENOENT: return
            case ELOOP, ENOTDIR:
                if unlinkat(parent, name, 0) != 0 && errno != ENOENT { throw ArchiveError.system("unlink", shown) }
                return
            default: throw ArchiveError.system("open", shown)
            }
        }
        let directory = OwnedDescriptor(owning: opened)
        let fd = directory.raw
        for child in try names(fd) {
            var info = stat()
            guard fstatat(fd, child, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                try removeTree(fd, child, shown: shown + "/" + child, depth: depth + 1)
            } else if unlinkat(fd, child, 0) != 0 && errno != ENOENT {
                throw ArchiveError.system("unlink", shown + "/" + child)
            }
        }
        if unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw ArchiveError.system("rmdir", shown) }
    }

    /// `stat` of `name` in `parent`, not following a symlink; nil when there is nothing.
    public static func lstat(_ parent: Int32, _ name: String) -> stat? {
        var info = stat()
        return fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
    }

    /// A regular file open for reading, with its stat.
    public struct RegularFile: ~Copyable {
        public let descriptor: OwnedDescriptor
        public let info: stat
    }

    /// Opens `name` in `parent` for reading if it is a regular file (never opening anything else), with its stat.
    public static func openRegularFile(_ parent: Int32, _ name: String, shown: String) throws(ArchiveError) -> RegularFile? {
        let opened = SystemCall.retryingInterrupts { openat(parent, name, pathOnlyFlag | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else {
            if errno == ENOENT { return nil }
            throw ArchiveError.system("open", shown)
        }
        let handle = OwnedDescriptor(owning: opened)
        var info = stat()
        guard fstat(handle.raw, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let fd = SystemCall.retryingInterrupts { open("/proc/self/fd/\(handle.raw)", O_RDONLY | O_CLOEXEC | O_NOCTTY) }
        guard fd >= 0 else { throw ArchiveError.system("open", shown) }
        return RegularFile(descriptor: OwnedDescriptor(owning: fd), info: info)
    }
}
