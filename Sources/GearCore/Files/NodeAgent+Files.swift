public import GearAPI

/// File transfer into and out of containers' volumes. These calls are not jobs: they touch no unit and run at
/// once, on their own threads (`FileTransferIO`).
extension NodeAgent {
    /// Resolves a container path (checked, percent-decoded components) to one of the container's volumes.
    public nonisolated func volumePath(_ id: ContainerID, _ components: [String]) throws(GearError) -> VolumePath {
        guard let definition = index[id] else { throw GearError(.notFound, "no container \(id)") }
        return try VolumePath.resolve(components, in: definition, layout: configuration.layout)
    }

    /// Opens a file for reading, or lists a directory.
    public nonisolated func openFile(_ path: VolumePath) async throws(GearError) -> FileReadTarget {
        try await FileTransferIO.run { () throws(GearError) in try VolumeTree.openForReading(path) }
    }

    /// Starts an upload; the caller writes the body to it and commits (or aborts).
    public nonisolated func beginUpload(_ path: VolumePath, options: UploadOptions) async throws(GearError) -> FileUpload {
        let limits = configuration.fileLimits
        return try await FileTransferIO.run { () throws(GearError) in try FileUpload(path, options: options, limits: limits) }
    }

    /// Deletes a file or directory; answers what was there.
    public nonisolated func deleteFile(_ path: VolumePath, recursive: Bool) async throws(GearError) -> FileEntry {
        try await FileTransferIO.run { () throws(GearError) in try VolumeTree.delete(path, recursive: recursive) }
    }
}
