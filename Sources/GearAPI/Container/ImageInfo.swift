public import Foundation

/// An image in the node's podman storage (`GET /images`).
public struct ImageInfo: Sendable, Hashable, Codable {
    public var id: String
    /// Its names (`localhost/busybox:latest`); empty for an untagged image.
    public var names: [String]
    public var size: Int64
    public var createdAt: Date?

    public init(id: String, names: [String], size: Int64, createdAt: Date?) {
        self.id = id
        self.names = names
        self.size = size
        self.createdAt = createdAt
    }
}

/// The answer of `GET /images`.
public struct ImageList: Sendable, Hashable, Codable {
    public var images: [ImageInfo]

    public init(images: [ImageInfo]) { self.images = images }
}
