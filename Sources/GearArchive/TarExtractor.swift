import CompressNIO
import Foundation
public import GearAPI
import GearSystem
public import NIOCore
import Synchronization

#if canImport(Glibc)
    public import Glibc
#endif

/// Who owns what an extraction creates.
public struct FileOwner: Sendable, Hashable {
    public var uid: uid_t
    public var gid: gid_t
    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }
}

/// How an extraction goes.
public struct ExtractionOptions: Sendable {
    /// The most file content the archive may write, and how to say why in a refusal.
    public var limit: Int64
    public var limitReason: String
    /// Owner of everything created; nil keeps the process's.
    public var owner: FileOwner?
    /// Create the target directory (and its parents) when missing.
    public var createTarget = false
    /// Leading components dropped from every name (entries with no more are skipped).
    public var stripComponents = 0
    public var maxEntries = 1_000_000
    /// How paths are shown in messages: the prefix of the target as its user sees it (`/data/logs`).
    public var shownTarget: String

    public init(limit: Int64, limitReason: String, owner: FileOwner? = nil, shownTarget: String) {
        self.limit = limit
        self.limitReason = limitReason
        self.owner = owner
        self.shownTarget = shownTarget
    }
}

/// Extracts a tar stream (plain, or gzip: recognized by its first bytes) beneath one directory, never outside it,
/// and all or nothing.
///
/// Entries are first created in a hidden staging directory at the root of the confined tree
/// (`.gear-archive-*`), with every name checked (`TarName`: nothing absolute, no `..`) and every walk confined
/// (`ConfinedTree`: a symlink the archive made earlier, or one already in the tree, is never followed, so
/// "symlink, then a file through it" is refused). Hard links may only point to files of the same archive; devices
/// and FIFOs are refused; set-id and sticky bits are dropped; content beyond the limit is refused. Only when the
/// whole archive has arrived and is valid are its entries renamed into the target, after one `syncfs`; a refused,
/// broken or cut-off archive leaves nothing but the staging directory's removal.
public final class TarExtractor: Sendable {
    /// The file being written and the directory it is in, both closed when it ends (or the extraction does).
    private struct Current: ~Copyable {
        var fd: OwnedDescriptor
        var parent: OwnedDescriptor
        var name: String
        var mode: UInt32
        var modified: Int64
        var shown: String
    }

    /// What an extraction holds open while it runs: its own descriptor of the confined tree's root, and the
    /// staging directory in it.
    private struct Directories: ~Copyable {
        let root: OwnedDescriptor
        let staging: OwnedDescriptor

        /// Closes both: the staging directory first, then `removeStaging` takes it away from the root, then the
        /// root.
        consuming func close(removingStaging removeStaging: (_ root: Int32) -> Void) {
            _ = consume staging
            removeStaging(root.raw)
        }
    }

    private struct State: ~Copyable {
        var parser = TarStreamParser()
        /// Nil once the extraction ended (finished or aborted), everything it held closed.
        var held: Directories?
        var current: Current?
        var decompressor: ZlibDecompressor?
        var sniffed = false
        var result: ArchiveResult
        var directories: [[String]: (mode: UInt32, modified: Int64)] = [:]

        var open: Bool { held != nil }
        /// The descriptors of the root and of the staging directory while the extraction runs; -1 (which every
        /// call refuses) once it ended, so callers check `open` first.
        var root: Int32 {
            switch held {
            case .some(let held): held.root.raw
            case .none: -1
            }
        }
        var staging: Int32 {
            switch held {
            case .some(let held): held.staging.raw
            case .none: -1
            }
        }
    }

    public let target: [String]
    public let options: ExtractionOptions
    private let stagingName: String
    private let state: Mutex<State>

    /// Starts an extraction into `target` (components below the directory open at `root`, which is borrowed).
    public init(root: Int32, target: [String], options: ExtractionOptions) throws(ArchiveError) {
        let copy = dup(root)
        guard copy >= 0 else { throw ArchiveError.system("dup", options.shownTarget) }
        let rootCopy = OwnedDescriptor(owning: copy)
        let name = ".gear-archive-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        guard mkdirat(rootCopy.raw, name, 0o700) == 0 else { throw ArchiveError.system("mkdir", options.shownTarget) }
        let staging = SystemCall.retryingInterrupts { openat(rootCopy.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard staging >= 0 else {
            let error = ArchiveError.system("open", options.shownTarget)
            unlinkat(rootCopy.raw, name, AT_REMOVEDIR)
            throw error
        }
        self.target = target
        self.options = options
        self.stagingName = name
        let held = Directories(root: rootCopy, staging: OwnedDescriptor(owning: staging))
        self.state = Mutex(State(held: held, result: ArchiveResult(path: options.shownTarget)))
    }

    deinit {
        abort()
    }

    /// The prefix of staging directories: a start of geard removes any a crash left behind.
    public static let stagingPrefix = ".gear-archive-"

    /// Takes the next bytes of the archive.
    public func write(_ buffer: ByteBuffer) throws(ArchiveError) {
        try state.withLock { (state: inout State) throws(ArchiveError) in
            guard state.open else { throw ArchiveError(.io, "the extraction already ended") }
            if !state.sniffed, buffer.readableBytes > 0 {
                state.sniffed = true
                if buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x1f8b {
                    do {
                        state.decompressor = try ZlibDecompressor(algorithm: .gzip)
                    } catch {
                        throw ArchiveError(.io, "cannot start gzip decompression: \(error)")
                    }
                }
            }
            guard let decompressor = state.decompressor else {
                try buffer.withUnsafeReadableBytes { (bytes) throws(ArchiveError) in try feed(bytes, &state) }
                return
            }
            var input = buffer
            while input.readableBytes > 0 {
                var output = ByteBufferAllocator().buffer(capacity: 256 * 1024)
                let before = input.readerIndex
                do {
                    try decompressor.inflate(from: &input, to: &output)
                } catch let error as CompressNIOError where error == .bufferOverflow || error == .inputBufferOverflow {
                    // More output to come, or all input taken: either way, go on with what came out.
                } catch {
                    throw ArchiveError(.invalid, "the archive is not valid gzip (\(error))")
                }
                try output.withUnsafeReadableBytes { (bytes) throws(ArchiveError) in try feed(bytes, &state) }
                if input.readerIndex == before && output.readableBytes == 0 { break }
            }
        }
    }

    private func feed(_ bytes: UnsafeRawBufferPointer, _ state: inout State) throws(ArchiveError) {
        var parser = state.parser
        defer { state.parser = parser }
        try parser.consume(bytes) { (event) throws(ArchiveError) in
            switch event {
            case .begin(let entry): try begin(entry, &state)
            case .data(let data): try append(data, &state)
            case .end: try end(&state)
            }
        }
    }

    private func shown(_ components: [String]) -> String {
        (options.shownTarget == "/" ? "" : options.shownTarget) + "/" + components.joined(separator: "/")
    }

    private func begin(_ entry: TarEntry, _ state: inout State) throws(ArchiveError) {
        guard state.result.entries < options.maxEntries else {
            throw ArchiveError(.tooLarge, "the archive has more than \(options.maxEntries) entries")
        }
        var components = try TarName.components(entry.name)
        guard components.count > options.stripComponents else { return }
        components.removeFirst(options.stripComponents)
        state.result.entries += 1
        let shown = self.shown(components)
        switch entry.kind {
        case .directory:
            _ = try ConfinedTree.walk(state.staging, components, create: true, owner: ownerPair, shown: options.shownTarget)  // closed at once
            state.directories[components] = (entry.mode, entry.modified)
            state.result.directories += 1
        case .file:
            let name = components.last!
            let parent = try place(components, &state, shown: shown)
            let fd = SystemCall.retryingInterrupts { openat(parent.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw ArchiveError.system("create", shown) }
            state.current = Current(
                fd: OwnedDescriptor(owning: fd), parent: parent, name: name, mode: entry.mode, modified: entry.modified, shown: shown)
            state.result.files += 1
        case .symlink:
            guard !entry.link.isEmpty, entry.link.utf8.count <= TarName.maxPathBytes, !entry.link.utf8.contains(0) else {
                throw ArchiveError(.invalid, "symlink \(shown) has an empty or malformed target")
            }
            let name = components.last!
            let parent = try place(components, &state, shown: shown)
            guard symlinkat(entry.link, parent.raw, name) == 0 else { throw ArchiveError.system("symlink", shown) }
            if let owner = options.owner { _ = fchownat(parent.raw, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) }
            state.result.symlinks += 1
        case .hardlink:
            var source = try TarName.components(entry.link)
            guard source.count > options.stripComponents else {
                throw ArchiveError(.invalid, "hard link \(shown) points to '\(entry.link.prefix(120))', which is not a file of this archive")
            }
            source.removeFirst(options.stripComponents)
            let sourceParent: OwnedDescriptor
            do {
                sourceParent = try ConfinedTree.walk(state.staging, Array(source.dropLast()), create: false)
            } catch {
                throw ArchiveError(.invalid, "hard link \(shown) points to '\(entry.link.prefix(120))', which is not a file of this archive")
            }
            guard let info = ConfinedTree.lstat(sourceParent.raw, source.last!), (info.st_mode & S_IFMT) == S_IFREG else {
                throw ArchiveError(.invalid, "hard link \(shown) points to '\(entry.link.prefix(120))', which is not a file of this archive")
            }
            let name = components.last!
            let parent = try place(components, &state, shown: shown)
            guard linkat(sourceParent.raw, source.last!, parent.raw, name, 0) == 0 else { throw ArchiveError.system("link", shown) }
            state.result.hardlinks += 1
        case .other(let type):
            throw ArchiveError(
                .invalid,
                "entry \(shown) is a device node, FIFO or other special file (type '\(Character(Unicode.Scalar(type)))'); those are not extracted")
        }
    }

    private var ownerPair: (uid: uid_t, gid: gid_t)? { options.owner.map { ($0.uid, $0.gid) } }

    /// Opens the directory an entry goes in (creating its parents in staging) and clears what an earlier entry of
    /// the same name (the last component) left (a later entry wins, as with tar; a directory is not replaced by a
    /// file).
    private func place(_ components: [String], _ state: inout State, shown: String) throws(ArchiveError) -> OwnedDescriptor {
        let parent = try ConfinedTree.walk(state.staging, Array(components.dropLast()), create: true, owner: ownerPair, shown: options.shownTarget)
        let name = components.last!
        if let existing = ConfinedTree.lstat(parent.raw, name) {
            if (existing.st_mode & S_IFMT) == S_IFDIR {
                throw ArchiveError(.conflict, "the archive has \(shown) both as a directory and as a file")
            }
            unlinkat(parent.raw, name, 0)
        }
        return parent
    }

    private func append(_ data: UnsafeRawBufferPointer, _ state: inout State) throws(ArchiveError) {
        guard let fd = state.current?.fd.raw, let shown = state.current?.shown else { return }
        state.result.bytes += Int64(data.count)
        guard state.result.bytes <= options.limit else {
            throw ArchiveError(.tooLarge, "the archive holds more than \(options.limitReason); nothing was extracted")
        }
        do throws(SystemError) {
            try SystemCall.writeAll(fd, UnsafeRawBufferPointer(data), "write \(shown)")
        } catch {
            throw ArchiveError.system("write", shown, errno: error.errno)
        }
    }

    private func end(_ state: inout State) throws(ArchiveError) {
        // The file and its directory close as this returns or throws.
        guard let current = state.current.take() else { return }
        let fd = current.fd.raw
        guard fchmod(fd, mode_t(current.mode & 0o777)) == 0 else { throw ArchiveError.system("chmod", current.shown) }
        if let owner = options.owner, fchown(fd, owner.uid, owner.gid) != 0, errno != EPERM {
            throw ArchiveError.system("chown", current.shown)
        }
        var times = [timespec(tv_sec: Int(current.modified), tv_nsec: 0), timespec(tv_sec: Int(current.modified), tv_nsec: 0)]
        _ = futimens(fd, &times)
    }

    /// Checks that the archive is whole and moves its entries into the target.
    public func finish() throws(ArchiveError) -> ArchiveResult {
        try state.withLock { (state: inout State) throws(ArchiveError) -> ArchiveResult in
            guard state.open else { throw ArchiveError(.io, "the extraction already ended") }
            guard state.parser.isComplete else {
                throw ArchiveError(
                    .invalid,
                    state.sniffed
                        ? "the archive ended in the middle of an entry (cut off?); nothing was extracted" : "the body is empty: send a tar archive")
            }
            // Directories' own modes and times last: what was created inside them changed their times.
            for (components, attributes) in state.directories.sorted(by: { $0.key.count > $1.key.count }) {
                let directory = try ConfinedTree.walk(state.staging, components, create: false)
                _ = fchmod(directory.raw, mode_t(attributes.mode & 0o777))
                var times = [timespec(tv_sec: Int(attributes.modified), tv_nsec: 0), timespec(tv_sec: Int(attributes.modified), tv_nsec: 0)]
                _ = futimens(directory.raw, &times)
            }
            Self.syncFileSystem(state.staging)
            let target = try ConfinedTree.walk(state.root, self.target, create: options.createTarget, owner: ownerPair, shown: "")
            let top = try ConfinedTree.names(state.staging)
            for name in top { try conflicts(state.staging, target.raw, name, shown: shown([name])) }
            for name in top { try merge(state.staging, target.raw, name, shown: shown([name]), depth: 0) }
            fsync(target.raw)
            state.held.take()!.close { root in unlinkat(root, stagingName, AT_REMOVEDIR) }
            return state.result
        }
    }

    /// Refuses, before anything moves, a file of the archive where the target has a directory.
    private func conflicts(_ source: Int32, _ target: Int32, _ name: String, shown: String, depth: Int = 0) throws(ArchiveError) {
        guard depth < ConfinedTree.maxDepth, let from = ConfinedTree.lstat(source, name), let into = ConfinedTree.lstat(target, name) else { return }
        let fromDirectory = (from.st_mode & S_IFMT) == S_IFDIR
        let intoDirectory = (into.st_mode & S_IFMT) == S_IFDIR
        if !fromDirectory && intoDirectory {
            throw ArchiveError(.conflict, "\(shown) is a directory, and the archive has a file there; nothing was extracted")
        }
        guard fromDirectory && intoDirectory else { return }
        let sourceChild = try ConfinedTree.openDirectory(source, name, create: false, shown: shown)
        let targetChild = try ConfinedTree.openDirectory(target, name, create: false, shown: shown)
        for child in try ConfinedTree.names(sourceChild.raw) {
            try conflicts(sourceChild.raw, targetChild.raw, child, shown: shown + "/" + child, depth: depth + 1)
        }
    }

    /// Moves `name` from staging into the target: a directory into an existing one is merged, anything else is
    /// renamed over what is there (a symlink or file the container has there is replaced, never followed).
    private func merge(_ source: Int32, _ target: Int32, _ name: String, shown: String, depth: Int) throws(ArchiveError) {
        guard let from = ConfinedTree.lstat(source, name) else { return }
        if (from.st_mode & S_IFMT) == S_IFDIR {
            let opened = SystemCall.retryingInterrupts { openat(target, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if opened >= 0 {
                let existing = OwnedDescriptor(owning: opened)
                let child = try ConfinedTree.openDirectory(source, name, create: false, shown: shown)
                for entry in try ConfinedTree.names(child.raw) {
                    try merge(child.raw, existing.raw, entry, shown: shown + "/" + entry, depth: depth + 1)
                }
                _ = fchmod(existing.raw, from.st_mode & 0o777)
                var times = [from.st_atim, from.st_mtim]
                _ = futimens(existing.raw, &times)
                unlinkat(source, name, AT_REMOVEDIR)
                return
            }
            if errno == ELOOP || errno == ENOTDIR { unlinkat(target, name, 0) }
        }
        guard renameat(source, name, target, name) == 0 else {
            if errno == EISDIR || errno == ENOTEMPTY {
                throw ArchiveError(.conflict, "\(shown) became a directory while the archive was extracted")
            }
            throw ArchiveError.system("rename", shown)
        }
    }

    /// `syncfs(2)` of the file system holding `fd`: one call makes every extracted file durable before any is
    /// renamed into place. Swift's Glibc module leaves it out (it needs `_GNU_SOURCE`), so it is looked up.
    static func syncFileSystem(_ fd: Int32) {
        typealias SyncFS = @convention(c) (Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") {
            _ = unsafeBitCast(symbol, to: SyncFS.self)(fd)
        } else {
            sync()
        }
    }

    /// Ends the extraction without putting anything in place (safe to call more than once).
    public func abort() {
        state.withLock { state in
            guard let held = state.held.take() else { return }
            state.current = nil
            held.close { root in try? ConfinedTree.removeTree(root, stagingName, shown: stagingName) }
        }
    }
}
