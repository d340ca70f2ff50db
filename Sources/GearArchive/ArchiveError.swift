import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why an archive cannot be read, written or extracted: a kind that callers map to their own terms (geard to
/// HTTP statuses, gear to exit codes) and a message for people.
public struct ArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The archive or a name in it is malformed, or asks for something never done (`..`, devices).
        case invalid
        /// A path that leads through a symlink, or that is not allowed.
        case forbidden
        /// The tree has something else where an entry goes (a directory where a file is, ...).
        case conflict
        /// More than the limit.
        case tooLarge
        /// No space left.
        case diskFull
        case notFound
        /// Any other failure of a system call.
        case io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// A failed system call on `path` (errno read now).
    static func system(_ operation: String, _ path: String, errno code: Int32 = errno) -> ArchiveError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT: return ArchiveError(.diskFull, "\(operation) \(path): \(reason)")
        case ENOENT: return ArchiveError(.notFound, "\(path) does not exist")
        default: return ArchiveError(.io, "\(operation) \(path): \(reason)")
        }
    }
}
