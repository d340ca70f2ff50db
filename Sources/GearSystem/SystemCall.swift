#if canImport(Glibc)
    public import Glibc
#endif

/// The one way geard calls the C library's file and socket functions: an interrupted call (`EINTR`) is made again,
/// a failure becomes a typed `SystemError`, and a descriptor has one owner that closes it once.
public enum SystemCall {
    /// `body` again while it fails with `EINTR`; its result otherwise, a failure (negative) included, with `errno`
    /// as the call left it. For callers that tell failures apart themselves (`ENOENT`, `EEXIST`, ...).
    @inlinable
    public static func retryingInterrupts<T: BinaryInteger>(_ body: () -> T) -> T {
        while true {
            let result = body()
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// `body` again while it fails with `EINTR`; a failure throws `SystemError` naming `operation`.
    @inlinable
    public static func checked<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
        let result = retryingInterrupts(body)
        guard result >= 0 else { throw SystemError(errno: errno, operation: operation()) }
        return result
    }

    /// Writes all of `bytes` to `fd`, however many `write`s it takes.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ operation: @autoclosure () -> String) throws(SystemError) {
        var at = 0
        while at < bytes.count {
            let base = bytes.baseAddress! + at
            let count = bytes.count - at
            at += try checked(operation(), { write(fd, base, count) })
        }
    }
}

/// A system call that failed.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errno: Int32
    /// What was being done, with the path or name it concerned: `open /var/lib/gear/x`.
    public var operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// The C library's text for the error.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(operation): \(reason)" }
}

/// A file descriptor with one owner: closed once, when the owner is done with it (or `take()` hands it on).
public struct OwnedDescriptor: ~Copyable, Sendable {
    public let raw: Int32

    /// Takes ownership of `raw` (a descriptor that succeeded, `raw >= 0`).
    public init(owning raw: Int32) {
        self.raw = raw
    }

    /// Opens `path` (`open(2)`, retried on `EINTR`).
    public init(opening path: String, _ flags: Int32, mode: mode_t = 0) throws(SystemError) {
        raw = try SystemCall.checked("open \(path)", { open(path, flags | O_CLOEXEC, mode) })
    }

    /// Hands the descriptor on without closing it.
    public consuming func take() -> Int32 {
        let raw = self.raw
        discard self
        return raw
    }

    /// Closes the descriptor now, for a caller that must know it worked: some file systems report a failed
    /// write-back only here (a file is checked so before it is renamed into place). Released either way.
    public consuming func close(_ operation: @autoclosure () -> String) throws(SystemError) {
        let raw = take()
        // Not retried, as in deinit.
        guard Glibc.close(raw) == 0 else { throw SystemError(errno: errno, operation: operation()) }
    }

    deinit {
        // close(2) is not retried: Linux releases the descriptor even when it reports EINTR.
        _ = Glibc.close(raw)
    }
}
