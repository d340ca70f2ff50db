public import GearAPI
import GearArchive
import GearSystem
import Logging
package import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

extension GearError {
    /// An archive's failure in the agent's terms.
    init(_ error: ArchiveError) {
        let code: Code =
            switch error.kind {
            case .invalid: .invalidRequest
            case .forbidden: .forbidden
            case .conflict: .conflict
            case .tooLarge: .tooLarge
            case .diskFull: .diskFull
            case .notFound: .notFound
            case .io: .internal
            }
        self.init(code, error.message)
    }
}

/// A tar archive being extracted into a directory of a volume (`PUT /container/{id}/archive?path=DIR`): the
/// bytes go to a `TarExtractor` confined to the volume, on the file transfer threads.
public final class ArchiveUpload: Sendable {
    public let path: VolumePath
    private let extractor: TarExtractor

    init(_ path: VolumePath, createTarget: Bool, expectedLength: Int64?, limits: FileLimits) throws(GearError) {
        let root = try VolumeTree.openRoot(path)
        var limit = limits.maxUploadBytes
        var reason = "the upload limit of \(limits.maxUploadBytes) bytes (--max-upload-size)"
        if let volumeLimit = limits.volumeSizeLimit {
            let room = max(0, volumeLimit - (try VolumeTree.usage(of: path.root)))
            if room < limit {
                limit = room
                reason = "the room left in volume \(path.volume.name): \(room) of \(volumeLimit) bytes (--volume-size-limit)"
            }
        }
        if let expectedLength, expectedLength > limits.maxUploadBytes {
            throw GearError(
                .tooLarge, "the body (\(expectedLength) bytes) is larger than the upload limit of \(limits.maxUploadBytes) bytes (--max-upload-size)")
        }
        // What the archive creates belongs to whoever owns the volume (the exec container's dynamic user, root
        // for podman), like an upload's new files.
        var owner = stat()
        fstat(root.raw, &owner)
        var options = ExtractionOptions(
            limit: limit, limitReason: reason, owner: FileOwner(uid: owner.st_uid, gid: owner.st_gid), shownTarget: path.containerPath)
        options.createTarget = createTarget
        do throws(ArchiveError) {
            extractor = try TarExtractor(root: root.raw, target: path.components, options: options)
        } catch {
            throw GearError(error)
        }
        self.path = path
    }

    /// Takes the next bytes of the body.
    package func write(_ buffers: [ByteBuffer]) async throws(GearError) {
        let extractor = self.extractor
        try await FileTransferIO.run { () throws(GearError) in
            do throws(ArchiveError) {
                for buffer in buffers { try extractor.write(buffer) }
            } catch {
                throw GearError(error)
            }
        }
    }

    /// Checks that the archive was whole and puts its entries in place.
    public func commit() async throws(GearError) -> ArchiveResult {
        let extractor = self.extractor
        return try await FileTransferIO.run { () throws(GearError) in
            do throws(ArchiveError) {
                return try extractor.finish()
            } catch {
                throw GearError(error)
            }
        }
    }

    public func abort() async {
        let extractor = self.extractor
        _ = try? await FileTransferIO.run { extractor.abort() }
    }
}

/// A tar stream of a file or directory of a volume (`GET /container/{id}/archive?path=P`), read chunk by chunk.
public final class ArchiveDownload: Sendable {
    /// The name of the archive's top entry (the last component of P).
    public let name: String
    private let packer: TarPacker

    init(_ path: VolumePath, gzip: Bool) throws(GearError) {
        name = path.name
        do {
            if path.components.isEmpty {
                let root = try VolumeTree.openRoot(path)
                packer = try TarPacker(parent: root.raw, name: nil, entryName: name, gzip: gzip)
            } else {
                let parent = try VolumeTree.openParent(path)
                packer = try TarPacker(parent: parent.raw, name: path.components.last!, entryName: name, gzip: gzip)
            }
        } catch let error as ArchiveError {
            throw GearError(error)
        } catch let error as GearError {
            throw error
        } catch {
            throw GearError(.internal, "\(error)")
        }
    }

    /// The next chunk, or nil after the last.
    package func next() async throws(GearError) -> ByteBuffer? {
        let packer = self.packer
        return try await FileTransferIO.run { () throws(GearError) -> ByteBuffer? in
            do throws(ArchiveError) {
                return try packer.next()
            } catch {
                throw GearError(error)
            }
        }
    }
}

extension NodeAgent {
    /// Starts extracting an archive into the directory `path` (created with `createTarget`).
    public nonisolated func beginArchiveUpload(
        _ path: VolumePath, createTarget: Bool, expectedLength: Int64?
    ) async throws(GearError) -> ArchiveUpload {
        let limits = configuration.fileLimits
        return try await FileTransferIO.run { () throws(GearError) in
            try ArchiveUpload(path, createTarget: createTarget, expectedLength: expectedLength, limits: limits)
        }
    }

    /// Opens `path` (a file or directory) as a tar stream.
    public nonisolated func openArchive(_ path: VolumePath, gzip: Bool) async throws(GearError) -> ArchiveDownload {
        try await FileTransferIO.run { () throws(GearError) in try ArchiveDownload(path, gzip: gzip) }
    }

    /// Removes, in the background, the temporary files of uploads that a crash cut off, anywhere in every volume
    /// (a walk of each tree, so it does not hold up the start); files changed since `startedAt` are left alone.
    nonisolated func sweepUploadLeftovers(roots: [String], startedAt: timespec) {
        let logger = self.logger
        Task {
            let removed = try? await FileTransferIO.run { () throws(GearError) in
                roots.reduce(0) { $0 + VolumeTree.removeUploadLeftovers(in: $1, before: startedAt) }
            }
            if let removed, removed > 0 { logger.info("removed temporary files of interrupted uploads", metadata: ["files": "\(removed)"]) }
        }
    }

    /// The directories of every installed container's volumes.
    var volumeRoots: [String] {
        definitions.values.flatMap { definition in definition.spec.volumes.map { layout.volume(definition.id, $0.name) } }
    }

    /// Removes staging directories of archive uploads that a crash cut off (at the root of every volume).
    func sweepArchiveStaging() async {
        let roots = volumeRoots
        _ = try? await FileTransferIO.run { () throws(GearError) in
            for path in roots {
                let opened = SystemCall.retryingInterrupts { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                guard opened >= 0 else { continue }
                let root = OwnedDescriptor(owning: opened)
                let fd = root.raw
                for name in (try? ConfinedTree.names(fd)) ?? [] where name.hasPrefix(TarExtractor.stagingPrefix) {
                    try? ConfinedTree.removeTree(fd, name, shown: name)
                }
            }
        }
    }
}
