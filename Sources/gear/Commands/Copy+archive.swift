import ArgumentParser
import Foundation
import GearAPI
import GearArchive
import GearClient
import GearSystem
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gear cp` of directories: a tar stream of the local tree into the container's volume (`PUT .../archive`),
/// or of the container's tree out of it, extracted here with the same confinement geard uses (nothing of the
/// archive can land outside the target, whatever the node sends).
extension Copy {
    /// `cp -r` semantics: into an existing directory the source goes by its name; otherwise it becomes the target.
    func uploadDirectory(_ source: String, to remote: Remote, client: GearClient, started: ContinuousClock.Instant) async throws {
        let kind = try await client.pathKind(remote.locator.id, path: remote.path)
        let trimmed = remote.path.count > 1 && remote.path.hasSuffix("/") ? String(remote.path.dropLast()) : remote.path
        let (directory, entryName) =
            kind == .directory
            ? (trimmed, (source as NSString).lastPathComponent)
            : ((trimmed as NSString).deletingLastPathComponent, (trimmed as NSString).lastPathComponent)
        if kind == .file { throw GearClientError.local("\(remote.path) is a file; a directory goes into a directory") }
        let parent: OwnedDescriptor
        do throws(SystemError) {
            parent = try OwnedDescriptor(
                opening: (source as NSString).deletingLastPathComponent.isEmpty ? "." : (source as NSString).deletingLastPathComponent,
                O_RDONLY | O_DIRECTORY)
        } catch {
            throw GearClientError.local("cannot open the directory of \(source): \(error.reason)")
        }
        let packer: TarPacker
        do {
            packer = try TarPacker(parent: parent.raw, name: (source as NSString).lastPathComponent, entryName: entryName, gzip: false)
        } catch {
            throw GearClientError.local("\(source): \(error)")
        }
        let bar = ProgressBar(enabled: showsProgress)
        let result = try await client.uploadArchive(
            remote.locator.id, path: directory.isEmpty ? "/" : directory, parents: parents, body: TarChunks(packer: packer, progress: bar.update),
            requestID: global.requestID)
        bar.finish()
        report(
            result.bytes, "\(source) -> \(remote.locator):\(directory == "/" ? "" : directory)/\(entryName)",
            verified: [], started: started, json: result,
            detail: "\(result.files) files, \(result.directories) directories, \(result.symlinks) symlinks")
    }

    /// Into an existing local directory the tree goes by its name; otherwise it becomes `local`.
    func downloadDirectory(_ remote: Remote, to local: String, client: GearClient, started: ContinuousClock.Instant) async throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue { throw GearClientError.local("\(local) is a file; a directory goes into a directory") }
        let rootPath = exists ? local : ((local as NSString).deletingLastPathComponent.isEmpty ? "." : (local as NSString).deletingLastPathComponent)
        let root: OwnedDescriptor
        do throws(SystemError) {
            root = try OwnedDescriptor(opening: rootPath, O_RDONLY | O_DIRECTORY)
        } catch {
            throw GearClientError.local("cannot open \(rootPath): \(error.reason)")
        }
        var options = ExtractionOptions(limit: .max, limitReason: "", shownTarget: local)
        options.createTarget = !exists
        options.stripComponents = exists ? 0 : 1
        let extractor: TarExtractor
        do {
            extractor = try TarExtractor(root: root.raw, target: exists ? [] : [(local as NSString).lastPathComponent], options: options)
        } catch {
            throw GearClientError.local("\(local): \(error)")
        }
        let bar = ProgressBar(enabled: showsProgress)
        do {
            let received = Counter()
            try await client.downloadArchive(remote.locator.id, path: remote.path, requestID: global.requestID) { chunk in
                try extractor.write(chunk)
                bar.update(received.add(Int64(chunk.readableBytes)), nil)
            }
            let result = try extractor.finish()
            bar.finish()
            report(
                result.bytes, "\(remote.locator):\(remote.path) -> \(local)", verified: [], started: started, json: result,
                detail: "\(result.files) files, \(result.directories) directories, \(result.symlinks) symlinks")
        } catch {
            extractor.abort()
            bar.finish()
            throw error
        }
    }
}

/// A running total shared with a `@Sendable` callback.
final class Counter: Sendable {
    private let value = Mutex<Int64>(0)
    func add(_ n: Int64) -> Int64 {
        value.withLock {
            $0 += n; return $0
        }
    }
}

/// A `TarPacker`'s chunks as the async sequence AsyncHTTPClient streams a body from.
struct TarChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let packer: TarPacker
    let progress: @Sendable (Int64, Int64?) -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        let packer: TarPacker
        let progress: @Sendable (Int64, Int64?) -> Void
        var done: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try packer.next(size: 1 << 20) else { return nil }
            done += Int64(chunk.readableBytes)
            progress(done, nil)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(packer: packer, progress: progress) }
}
