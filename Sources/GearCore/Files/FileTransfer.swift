import Crypto
import Foundation
public import GearAPI
import GearSystem
package import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Limits on what uploads may store.
public struct FileLimits: Sendable, Hashable {
    /// The largest body one upload may send.
    public var maxUploadBytes: Int64 = 16 << 30
    /// The most the regular files of one volume may hold after an upload; nil for no limit.
    public var volumeSizeLimit: Int64?

    public init(maxUploadBytes: Int64 = 16 << 30, volumeSizeLimit: Int64? = nil) {
        self.maxUploadBytes = maxUploadBytes
        self.volumeSizeLimit = volumeSizeLimit
    }

    /// A size in bytes, or with a binary suffix: `1048576`, `512K`, `64M`, `16G`, `1T` (a trailing `B`/`iB` is
    /// fine). Nil for anything else, zero and negatives included.
    public static func size(_ text: String) -> Int64? {
        var digits = text.uppercased()
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits.removeLast(suffix.count)
            break
        }
        var shift: Int64 = 0
        if let last = digits.last, let index = ["K", "M", "G", "T"].firstIndex(of: String(last)) {
            shift = Int64(10 * (index + 1))
            digits.removeLast()
        }
        guard let value = Int64(digits), value > 0, value <= (Int64.max >> shift) else { return nil }
        return value << shift
    }
}

/// A digest the client sent with an upload; the content must match it or nothing is stored.
public struct ExpectedDigest: Sendable, Hashable {
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case sha256 = "sha-256", sha512 = "sha-512", md5
    }

    public var algorithm: Algorithm
    public var value: [UInt8]

    public init(algorithm: Algorithm, value: [UInt8]) {
        self.algorithm = algorithm
        self.value = value
    }

    /// The digest's length in bytes.
    public static func length(of algorithm: Algorithm) -> Int {
        switch algorithm {
        case .sha256: 32
        case .sha512: 64
        case .md5: 16
        }
    }
}

/// How an upload stores its file.
public struct UploadOptions: Sendable, Hashable {
    /// Permission bits; by default those of the file it replaces, or 0644.
    public var mode: UInt32?
    /// Create missing parent directories.
    public var createParents = false
    /// The body's length when the client announced it: a larger one is refused before anything is read, and a
    /// body that ends short stores nothing.
    public var expectedLength: Int64?
    public var digests: [ExpectedDigest] = []

    public init(mode: UInt32? = nil, createParents: Bool = false, expectedLength: Int64? = nil, digests: [ExpectedDigest] = []) {
        self.mode = mode
        self.createParents = createParents
        self.expectedLength = expectedLength
        self.digests = digests
    }
}

/// The threads that do file transfer I/O: apart from the pool that writes geard's own state, so that many large
/// transfers (each write and fsync can take a while) never hold up job bookkeeping.
enum FileTransferIO {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(GearError) -> T) async throws(GearError) -> T {
        do {
            return try await pool.runIfActive { try body() }
        } catch let error as GearError {
            throw error
        } catch {
            throw GearError(.internal, "file transfer: \(error)")
        }
    }
}

/// An upload in progress: the content goes to an unnamed file in the target's directory (`O_TMPFILE`, or a
/// hidden temporary name where the file system has none), is checked against the digests and length the client
/// announced, fsynced, and only then renamed over the target. A reader sees the old file or the new one, never a
/// torn one; of concurrent uploads to one path one wins whole; a failed or aborted upload leaves nothing behind.
public final class FileUpload: Sendable {
    struct State: ~Copyable {
        /// The temporary file and the directory it goes in; both nil (closed) once the upload ended.
        var file: OwnedDescriptor?
        var parent: OwnedDescriptor?
        /// The temporary file's name; nil for an unnamed (`O_TMPFILE`) one.
        var temporaryName: String?
        var written: Int64 = 0
        /// How far writeback has been started (`sync_file_range`).
        var flushed: Int64 = 0
        var sha256: SHA256?
        var sha512: SHA512?
        var md5: Insecure.MD5?

        var open: Bool { file != nil }
    }

    public let path: VolumePath
    let name: String
    let options: UploadOptions
    let limit: Int64
    let limitReason: String
    let mode: mode_t
    let owner: (uid: uid_t, gid: gid_t)
    let existed: Bool
    private let state: Mutex<State>

    /// Checks the target and the limits and creates the temporary file (blocking).
    init(_ path: VolumePath, options: UploadOptions, limits: FileLimits) throws(GearError) {
        guard let name = path.components.last else {
            throw GearError(.conflict, "\(path) is the root of volume \(path.volume.name); upload to a file inside it")
        }
        // Closed if this throws; the upload's state holds it once the temporary file is open.
        let parentDirectory = try VolumeTree.openParent(path, createParents: options.createParents)
        let parent = parentDirectory.raw
        var existing = stat()
        let exists = fstatat(parent, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        let replacesFile = exists && (existing.st_mode & S_IFMT) == S_IFREG
        if exists && (existing.st_mode & S_IFMT) == S_IFDIR {
            throw GearError(.conflict, "\(path) is a directory")
        }
        var limit = limits.maxUploadBytes
        var reason = "the upload limit of \(limits.maxUploadBytes) bytes (--max-upload-size)"
        if let volumeLimit = limits.volumeSizeLimit {
            let used = try VolumeTree.usage(of: path.root)
            let room = max(0, volumeLimit - used + (replacesFile ? Int64(existing.st_size) : 0))
            if room < limit {
                limit = room
                reason = "the room left in volume \(path.volume.name): \(room) of \(volumeLimit) bytes (--volume-size-limit)"
            }
        }
        if let expected = options.expectedLength, expected > limit {
            throw GearError(.tooLarge, "the body (\(expected) bytes) is larger than \(reason)")
        }
        var directory = stat()
        try FileSystem.call("stat", path.containerPath) { fstat(parent, &directory) }
        self.mode = options.mode.map { mode_t($0) } ?? (replacesFile ? existing.st_mode & 0o777 : 0o644)
        self.owner = replacesFile ? (existing.st_uid, existing.st_gid) : (directory.st_uid, directory.st_gid)

        var temporaryName: String?
        var fd = SystemCall.retryingInterrupts { openat(parent, ".", VolumeTree.temporaryFileFlag | O_WRONLY | O_CLOEXEC, 0o600) }
        if fd < 0 {
            guard errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL else { throw FileSystem.failure("create", path.containerPath) }
            let temporary = Self.temporaryName()
            fd = SystemCall.retryingInterrupts { openat(parent, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
            guard fd >= 0 else { throw FileSystem.failure("create", path.containerPath) }
            temporaryName = temporary
        }
        var state = State(file: OwnedDescriptor(owning: fd), parent: parentDirectory, temporaryName: temporaryName)
        for digest in options.digests {
            switch digest.algorithm {
            case .sha256: state.sha256 = SHA256()
            case .sha512: state.sha512 = SHA512()
            case .md5: state.md5 = Insecure.MD5()
            }
        }
        self.state = Mutex(state)
        self.path = path
        self.name = name
        self.options = options
        self.limit = limit
        self.limitReason = reason
        self.existed = exists
    }

    deinit {
        discard()
    }

    static func temporaryName() -> String {
        ".gear-upload-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// Appends the buffers' bytes.
    package func write(_ buffers: [ByteBuffer]) async throws(GearError) {
        try await FileTransferIO.run { () throws(GearError) in try self.append(buffers) }
    }

    private func append(_ buffers: [ByteBuffer]) throws(GearError) {
        try state.withLock { (state: inout State) throws(GearError) in
            guard let fd = state.file?.raw else { throw GearError(.internal, "the upload of \(path) was already ended") }
            let incoming = buffers.reduce(Int64(0)) { $0 + Int64($1.readableBytes) }
            guard state.written + incoming <= limit else {
                throw GearError(.tooLarge, "the body is larger than \(limitReason); nothing was stored")
            }
            for buffer in buffers {
                buffer.withUnsafeReadableBytes { raw in
                    if state.sha256 != nil { state.sha256!.update(bufferPointer: raw) }
                    if state.sha512 != nil { state.sha512!.update(bufferPointer: raw) }
                    if state.md5 != nil { state.md5!.update(bufferPointer: raw) }
                }
            }
            try Self.writeAll(fd, buffers, shown: path.containerPath)
            state.written += incoming
            if state.written - state.flushed >= Self.writebackStep {
                // Start writing back what is there now (on Linux, DONTNEED starts writeback of dirty pages without
                // waiting, and drops pages already written), so that the fsync at the end has little left to do and
                // the disk works while the body is still arriving.
                _ = posix_fadvise(fd, off_t(state.flushed), off_t(state.written - state.flushed), POSIX_FADV_DONTNEED)
                state.flushed = state.written
            }
        }
    }

    /// Writeback is started every this many bytes.
    static let writebackStep: Int64 = 8 << 20

    /// Writes every byte of the buffers, with one `writev` per up to 64 buffers.
    static func writeAll(_ fd: Int32, _ buffers: [ByteBuffer], shown: String) throws(GearError) {
        var pending = buffers.filter { $0.readableBytes > 0 }
        while !pending.isEmpty {
            let count = min(pending.count, 64)
            var vectors: [iovec] = []
            vectors.reserveCapacity(count)
            let written = withVectors(pending[0..<count], into: &vectors) { v in SystemCall.retryingInterrupts { writev(fd, v, Int32(v.count)) } }
            if written < 0 { throw FileSystem.failure("write", shown) }
            var remaining = written
            while remaining > 0, let first = pending.first {
                if first.readableBytes <= remaining {
                    remaining -= first.readableBytes
                    pending.removeFirst()
                } else {
                    pending[0].moveReaderIndex(forwardBy: remaining)
                    remaining = 0
                }
            }
        }
    }

    /// Calls `body` with iovecs over the buffers' readable bytes (valid only during the call).
    private static func withVectors<R>(_ buffers: ArraySlice<ByteBuffer>, into vectors: inout [iovec], _ body: ([iovec]) -> R) -> R {
        guard let first = buffers.first else { return body(vectors) }
        return first.withUnsafeReadableBytes { raw in
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
            return withVectors(buffers.dropFirst(), into: &vectors, body)
        }
    }

    /// Checks length and digests, makes the file durable and puts it in place.
    public func commit() async throws(GearError) -> UploadResult {
        try await FileTransferIO.run { () throws(GearError) in try self.finish() }
    }

    private func finish() throws(GearError) -> UploadResult {
        try state.withLock { (state: inout State) throws(GearError) in
            guard let fd = state.file?.raw, let parent = state.parent?.raw else {
                throw GearError(.internal, "the upload of \(path) was already ended")
            }
            if let expected = options.expectedLength, state.written != expected {
                throw GearError(.invalidRequest, "the body ended after \(state.written) of \(expected) bytes; nothing was stored")
            }
            var verified: [String] = []
            for digest in options.digests {
                let actual: [UInt8] =
                    switch digest.algorithm {
                    case .sha256: Array(state.sha256!.finalize())
                    case .sha512: Array(state.sha512!.finalize())
                    case .md5: Array(state.md5!.finalize())
                    }
                guard actual == digest.value else {
                    throw GearError(
                        .digestMismatch,
                        "the content's \(digest.algorithm.rawValue) is \(Data(actual).base64EncodedString()), not the \(Data(digest.value).base64EncodedString()) the request announced; nothing was stored"
                    )
                }
                verified.append(digest.algorithm.rawValue)
            }
            let shown = path.containerPath
            try FileSystem.call("chmod", shown) { fchmod(fd, mode) }
            if fchown(fd, owner.uid, owner.gid) != 0 && errno != EPERM { throw FileSystem.failure("chown", shown) }
            try FileSystem.call("fsync", shown) { fsync(fd) }
            var linked = state.temporaryName
            if linked == nil {
                let temporary = Self.temporaryName()
                try FileSystem.call("link", shown) { linkat(AT_FDCWD, "/proc/self/fd/\(fd)", parent, temporary, AT_SYMLINK_FOLLOW) }
                linked = temporary
                state.temporaryName = temporary
            }
            if renameat(parent, linked!, parent, name) != 0 {
                if errno == EISDIR { throw GearError(.conflict, "\(path) became a directory during the upload") }
                throw FileSystem.failure("rename", shown)
            }
            state.temporaryName = nil
            fsync(parent)
            var info = stat()
            try FileSystem.call("stat", shown) { fstat(fd, &info) }
            state.file = nil
            state.parent = nil
            return UploadResult(file: VolumeTree.entry(info, name: name, path: shown), created: !existed, verified: verified)
        }
    }

    /// Ends the upload without storing anything (safe to call more than once).
    public func abort() async {
        _ = try? await FileTransferIO.run { self.discard() }
    }

    private func discard() {
        state.withLock { state in
            guard let parent = state.parent?.raw else { return }
            state.file = nil  // closed before its name (if it has one) goes
            if let temporary = state.temporaryName { unlinkat(parent, temporary, 0) }
            state.parent = nil
        }
    }
}

/// A regular file open for reading, already known to be inside its volume.
public final class FileDownload: Sendable {
    public let entry: FileEntry
    /// A strong `ETag` for the content.
    public let entityTag: String
    public var size: Int64 { entry.size }
    /// Nil once closed.
    private let descriptor: Mutex<OwnedDescriptor?>

    init(_ file: consuming sending OwnedDescriptor, entry: FileEntry, entityTag: String) {
        self.descriptor = Mutex(file)
        self.entry = entry
        self.entityTag = entityTag
    }

    deinit {
        close()
    }

    /// Up to `length` bytes from `offset`; empty at the end of the file.
    package func read(at offset: Int64, length: Int) async throws(GearError) -> ByteBuffer {
        try await FileTransferIO.run { () throws(GearError) in
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var failure: Int32 = 0
            _ = self.descriptor.withLock { file in
                // -1 once closed: the read fails (EBADF).
                let fd = file?.raw ?? -1
                return buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
                    let n = SystemCall.retryingInterrupts { pread(fd, raw.baseAddress!, length, off_t(offset)) }
                    if n >= 0 { return n }
                    failure = errno
                    return 0
                }
            }
            if failure != 0 { throw FileSystem.failure("read", self.entry.path, errno: failure) }
            return buffer
        }
    }

    public func close() {
        descriptor.withLock { $0 = nil }
    }
}
