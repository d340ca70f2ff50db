public import Foundation

/// One entry of a container volume, as `HEAD`, directory listings and uploads describe it.
public struct FileEntry: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case file, directory, symlink, other
    }

    /// The last path component.
    public var name: String
    /// The path inside the container (`/data/logs/a.txt`).
    public var path: String
    public var type: Kind
    /// Bytes (for a symlink, the length of its target).
    public var size: Int64
    /// Permission bits in octal, `0644`.
    public var mode: String
    public var modifiedAt: Date
    /// Where a symlink points (geard never follows it).
    public var linkTarget: String?

    public init(name: String, path: String, type: Kind, size: Int64, mode: String, modifiedAt: Date, linkTarget: String? = nil) {
        self.name = name
        self.path = path
        self.type = type
        self.size = size
        self.mode = mode
        self.modifiedAt = modifiedAt
        self.linkTarget = linkTarget
    }
}

/// `GET /container/{id}/files/{dir}`: the entries of a directory, sorted by name.
public struct DirectoryListing: Sendable, Hashable, Codable {
    public var path: String
    public var entries: [FileEntry]

    public init(path: String, entries: [FileEntry]) {
        self.path = path
        self.entries = entries
    }
}

/// What an upload answers: the file as stored, and whether it replaced one.
public struct UploadResult: Sendable, Hashable, Codable {
    public var file: FileEntry
    public var created: Bool
    /// The digests geard checked the content against (`sha-256`, ...).
    public var verified: [String]

    public init(file: FileEntry, created: Bool, verified: [String]) {
        self.file = file
        self.created = created
        self.verified = verified
    }
}

/// The answer of `PUT /container/{id}/archive?path=DIR`: what the archive put under DIR.
public struct ArchiveResult: Sendable, Hashable, Codable {
    /// The directory it was extracted into, as the container sees it.
    public var path: String
    public var entries: Int
    public var files: Int
    public var directories: Int
    public var symlinks: Int
    public var hardlinks: Int
    /// Bytes of file content written.
    public var bytes: Int64

    public init(path: String, entries: Int = 0, files: Int = 0, directories: Int = 0, symlinks: Int = 0, hardlinks: Int = 0, bytes: Int64 = 0) {
        self.path = path
        self.entries = entries
        self.files = files
        self.directories = directories
        self.symlinks = symlinks
        self.hardlinks = hardlinks
        self.bytes = bytes
    }
}
