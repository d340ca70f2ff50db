import Foundation
public import GearAPI
import GearArchive
import GearSystem

#if canImport(Glibc)
    import Glibc
#endif

/// File operations inside a volume that never leave it, whatever the container did to the tree.
///
/// A volume is writable by its container, so anything in it may be a symlink pointing anywhere, a device node, or
/// change while geard works. Every walk therefore starts from the volume root and goes one component at a time
/// with `openat(..., O_NOFOLLOW)` relative to the directory already opened: a symlink anywhere on the path is
/// refused (never followed, even one that points back inside), and swapping a directory for a symlink during a
/// transfer makes the next step fail instead of leading out. Files are opened as `O_PATH` first and only reopened
/// for reading once `fstat` says they are regular files, so a planted FIFO or device node is never opened.
///
/// All calls block; they run on `FileTransferIO`'s threads.
enum VolumeTree {
    /// How deep a tree removal or size count goes before giving up (each level holds a descriptor).
    static let maxDepth = 4096

    /// `open(2)` flag for an unnamed file in a directory (`O_TMPFILE`, which Swift does not import).
    static let temporaryFileFlag: Int32 = 0o20_000_000 | O_DIRECTORY
    /// `O_PATH`: a descriptor that names an inode without opening it for I/O.
    static let pathOnlyFlag: Int32 = 0o10_000_000

    static func openRoot(_ path: VolumePath) throws(GearError) -> OwnedDescriptor {
        let fd = SystemCall.retryingInterrupts { open(path.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT {
                throw GearError(.notFound, "volume \(path.volume.name) of \(path.container) does not exist yet (its install has not run)")
            }
            throw FileSystem.failure("open", path.root)
        }
        return OwnedDescriptor(owning: fd)
    }

    /// Opens the directory `name` in `parent` without following a symlink; creates it (owned like `parent`) when
    /// `create` is set.
    static func openDirectory(_ parent: Int32, _ name: String, create: Bool, shown: String) throws(GearError) -> OwnedDescriptor {
        var owner: (uid: uid_t, gid: gid_t)?
        if create {
            var info = stat()
            if fstat(parent, &info) == 0 { owner = (info.st_uid, info.st_gid) }
        }
        do {
            return try ConfinedTree.openDirectory(parent, name, create: create, owner: owner, shown: shown)
        } catch {
            throw GearError(error)
        }
    }

    /// Why `name` in `parent` cannot be used: a symlink (refused), or not the kind of entry expected.
    static func refusal(_ parent: Int32, _ name: String, shown: String, expected: String) -> GearError {
        GearError(ConfinedTree.refusal(parent, name, shown: shown, expected: expected))
    }

    /// Opens the directory that holds the path's last component, walking down from the volume root.
    static func openParent(_ path: VolumePath, createParents: Bool = false) throws(GearError) -> OwnedDescriptor {
        var current = try openRoot(path)
        var shown = path.volume.path
        for component in path.components.dropLast() {
            shown += "/" + component
            do {
                // The directory above closes once the next one is open (or, on a failure, as the error leaves).
                current = try openDirectory(current.raw, component, create: createParents, shown: shown)
            } catch {
                if error.code == .notFound && !createParents {
                    throw GearError(.notFound, "\(error.message) (an upload with ?parents=1 creates missing directories)")
                }
                throw error
            }
        }
        return current
    }

    static func readLink(_ parent: Int32, _ name: String) -> String? {
        ConfinedTree.readLink(parent, name)
    }

    /// The API's view of a stat result.
    static func entry(_ info: stat, name: String, path: String, linkTarget: String? = nil) -> FileEntry {
        let type: FileEntry.Kind =
            switch info.st_mode & S_IFMT {
            case S_IFREG: .file
            case S_IFDIR: .directory
            case S_IFLNK: .symlink
            default: .other
            }
        let octal = String(info.st_mode & 0o7777, radix: 8)
        let modified = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        return FileEntry(
            name: name, path: path, type: type, size: Int64(info.st_size), mode: String(repeating: "0", count: max(0, 4 - octal.count)) + octal,
            modifiedAt: modified, linkTarget: linkTarget)
    }

    /// A strong validator for a file's content: inode, size and modification time in nanoseconds.
    static func entityTag(_ info: stat) -> String {
        let nanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return "\"\(String(info.st_ino, radix: 16))-\(String(info.st_size, radix: 16))-\(String(nanoseconds, radix: 16))\""
    }

    /// Opens what a path names for reading: a regular file, or a directory (listed).
    static func openForReading(_ path: VolumePath) throws(GearError) -> FileReadTarget {
        guard let name = path.components.last else {
            let root = try openRoot(path)
            return .directory(try listing(root, path: path.containerPath))
        }
        let parent = try openParent(path)
        let opened = SystemCall.retryingInterrupts { openat(parent.raw, name, pathOnlyFlag | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else {
            if errno == ENOENT { throw GearError(.notFound, "\(path) does not exist") }
            throw FileSystem.failure("open", path.containerPath)
        }
        let handle = OwnedDescriptor(owning: opened)
        var info = stat()
        try FileSystem.call("stat", path.containerPath) { fstat(handle.raw, &info) }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            // Reopening through /proc opens this very inode, which is known to be a regular file.
            let fd = SystemCall.retryingInterrupts { open("/proc/self/fd/\(handle.raw)", O_RDONLY | O_CLOEXEC | O_NOCTTY) }
            guard fd >= 0 else { throw FileSystem.failure("open", path.containerPath) }
            let file = OwnedDescriptor(owning: fd)
            var opened = stat()
            guard fstat(file.raw, &opened) == 0, opened.st_ino == info.st_ino, opened.st_dev == info.st_dev else {
                throw GearError(.conflict, "\(path) changed while it was opened")
            }
            return .file(FileDownload(file, entry: entry(opened, name: name, path: path.containerPath), entityTag: entityTag(opened)))
        case S_IFDIR:
            let fd = SystemCall.retryingInterrupts { openat(handle.raw, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
            guard fd >= 0 else { throw FileSystem.failure("open", path.containerPath) }
            return .directory(try listing(OwnedDescriptor(owning: fd), path: path.containerPath))
        case S_IFLNK:
            throw refusal(parent.raw, name, shown: path.containerPath, expected: "a file")
        default:
            throw GearError(.forbidden, "\(path) is not a regular file or directory (a device, FIFO or socket); geard does not open those")
        }
    }

    /// The entries of the directory open at `directory` (which this takes over), sorted by name.
    static func listing(_ directory: consuming OwnedDescriptor, path: String) throws(GearError) -> DirectoryListing {
        let fd = directory.raw
        var entries: [FileEntry] = []
        let names: [String]
        do {
            names = try ConfinedTree.names(fd)
        } catch {
            throw GearError(error)
        }
        for name in names {
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let target = (info.st_mode & S_IFMT) == S_IFLNK ? readLink(fd, name) : nil
            entries.append(entry(info, name: name, path: (path == "/" ? "" : path) + "/" + name, linkTarget: target))
        }
        return DirectoryListing(path: path, entries: entries)
    }

    /// Deletes a file, symlink or (empty, or with `recursive` any) directory; answers what was there.
    static func delete(_ path: VolumePath, recursive: Bool) throws(GearError) -> FileEntry {
        guard let name = path.components.last else {
            throw GearError(.forbidden, "\(path) is the root of volume \(path.volume.name); it goes with the container, delete what is in it instead")
        }
        let directory = try openParent(path)
        let parent = directory.raw
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { throw GearError(.notFound, "\(path) does not exist") }
            throw FileSystem.failure("stat", path.containerPath)
        }
        let removed = entry(info, name: name, path: path.containerPath)
        if (info.st_mode & S_IFMT) == S_IFDIR {
            if recursive {
                try removeTree(parent, name, shown: path.containerPath)
            } else if unlinkat(parent, name, AT_REMOVEDIR) != 0 {
                if errno == ENOTEMPTY || errno == EEXIST {
                    throw GearError(.conflict, "\(path) is a directory that is not empty; ?recursive=1 deletes it with everything in it")
                }
                throw FileSystem.failure("rmdir", path.containerPath)
            }
        } else if unlinkat(parent, name, 0) != 0 && errno != ENOENT {
            throw FileSystem.failure("unlink", path.containerPath)
        }
        fsync(parent)
        return removed
    }

    /// Removes the tree `name` in `parent` without following symlinks (`ConfinedTree.removeTree`).
    static func removeTree(_ parent: Int32, _ name: String, shown: String) throws(GearError) {
        do {
            try ConfinedTree.removeTree(parent, name, shown: shown)
        } catch {
            throw GearError(error)
        }
    }

    /// Removes what uploads cut off by a crash left in a volume: `.gear-upload-<hex>` regular files (an upload's
    /// named temporary file where `O_TMPFILE` is missing, or the link an upload makes just before its rename)
    /// last changed before `before`, so that an upload that began since is never touched. Returns how many.
    static func removeUploadLeftovers(in root: String, before: timespec) -> Int {
        let fd = SystemCall.retryingInterrupts { open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return 0 }
        let directory = OwnedDescriptor(owning: fd)
        return removeUploadLeftovers(directory.raw, before: before, depth: 0)
    }

    static func isUploadTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix(".gear-upload-") else { return false }
        let suffix = name.utf8.dropFirst(".gear-upload-".utf8.count)
        return (1...16).contains(suffix.count) && suffix.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// What `removeUploadLeftovers(in:before:)` does below the directory open at `fd` (borrowed).
    private static func removeUploadLeftovers(_ fd: Int32, before: timespec, depth: Int) -> Int {
        guard depth < maxDepth, let names = try? ConfinedTree.names(fd) else { return 0 }
        var removed = 0
        for name in names {
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let changed = info.st_ctim
                let older = changed.tv_sec < before.tv_sec || (changed.tv_sec == before.tv_sec && changed.tv_nsec < before.tv_nsec)
                if older && isUploadTemporaryName(name) && unlinkat(fd, name, 0) == 0 { removed += 1 }
            case S_IFDIR:
                let opened = SystemCall.retryingInterrupts { openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                if opened >= 0 {
                    let child = OwnedDescriptor(owning: opened)
                    removed += removeUploadLeftovers(child.raw, before: before, depth: depth + 1)
                }
            default: break
            }
        }
        return removed
    }

    /// The bytes of the regular files in a volume (for its size limit), not following symlinks.
    static func usage(of root: String) throws(GearError) -> Int64 {
        let fd = SystemCall.retryingInterrupts { open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else {
            if errno == ENOENT { return 0 }
            throw FileSystem.failure("open", root)
        }
        let directory = OwnedDescriptor(owning: fd)
        return usage(directory.raw, depth: 0)
    }

    /// The bytes of the regular files below the directory open at `fd` (borrowed).
    private static func usage(_ fd: Int32, depth: Int) -> Int64 {
        guard depth < maxDepth, let names = try? ConfinedTree.names(fd) else { return 0 }
        var total: Int64 = 0
        for name in names {
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG: total += Int64(info.st_size)
            case S_IFDIR:
                let opened = SystemCall.retryingInterrupts { openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                if opened >= 0 {
                    let child = OwnedDescriptor(owning: opened)
                    total += usage(child.raw, depth: depth + 1)
                }
            default: break
            }
        }
        return total
    }
}

/// What a path inside a volume is, opened for reading.
public enum FileReadTarget: Sendable {
    case file(FileDownload)
    case directory(DirectoryListing)
}
