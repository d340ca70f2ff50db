import Crypto
import Foundation
public import GearAPI
import GearSystem
package import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Image archives received for `POST /images`: the body is written to a file under `{state}/images` (with its
/// SHA-256, which names the request for request-id replays), then an import job runs podman on it.
public final class ImageUpload: Sendable {
    private struct State: ~Copyable {
        /// Nil (closed) once the upload finished or was discarded.
        var file: OwnedDescriptor?
        var written: Int64 = 0
        var sha256 = SHA256()
        /// Set once an import job owns the file: it removes it after podman read it, which may be after this
        /// upload is gone (a job queued behind another import).
        var handedOver = false
    }

    let path: String
    let limit: Int64
    private let state: Mutex<State>

    init(directory: String, limit: Int64, expectedLength: Int64?) throws(GearError) {
        if let expectedLength, expectedLength > limit {
            throw GearError(
                .tooLarge, "the image archive (\(expectedLength) bytes) is larger than the upload limit of \(limit) bytes (--max-upload-size)")
        }
        let path = "\(directory)/upload-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tar"
        let fd = SystemCall.retryingInterrupts { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw FileSystem.failure("create", path) }
        self.path = path
        self.limit = limit
        self.state = Mutex(State(file: OwnedDescriptor(owning: fd)))
    }

    deinit {
        if !state.withLock({ $0.handedOver }) { discard() }
    }

    package func write(_ buffers: [ByteBuffer]) async throws(GearError) {
        try await FileTransferIO.run { () throws(GearError) in
            try self.state.withLock { (state: inout State) throws(GearError) in
                guard let fd = state.file?.raw else { throw GearError(.internal, "the image upload already ended") }
                for buffer in buffers {
                    state.written += Int64(buffer.readableBytes)
                    guard state.written <= self.limit else {
                        throw GearError(.tooLarge, "the image archive is larger than the upload limit of \(self.limit) bytes (--max-upload-size)")
                    }
                    buffer.withUnsafeReadableBytes { state.sha256.update(bufferPointer: $0) }
                }
                try FileUpload.writeAll(fd, buffers, shown: "the image archive")
            }
        }
    }

    /// Makes the file durable; answers its size and SHA-256 (hex).
    func finish() async throws(GearError) -> (size: Int64, sha256: String) {
        try await FileTransferIO.run { () throws(GearError) in
            try self.state.withLock { (state: inout State) throws(GearError) -> (Int64, String) in
                guard let fd = state.file?.raw else { throw GearError(.internal, "the image upload already ended") }
                guard state.written > 0 else { throw GearError(.invalidRequest, "the body is empty: send an image archive") }
                try FileSystem.call("fsync", "the image archive") { fsync(fd) }
                state.file = nil
                return (state.written, state.sha256.finalize().map { String(format: "%02x", $0) }.joined())
            }
        }
    }

    /// Gives the file to the import job that removes it.
    func handOver() {
        state.withLock { $0.handedOver = true }
    }

    /// Removes the file (safe to call more than once, and after `finish`).
    func discard() {
        state.withLock { $0.file = nil }
        unlink(path)
    }

    public func abort() async {
        _ = try? await FileTransferIO.run { self.discard() }
    }
}

extension NodeAgent {
    /// Starts receiving an image archive.
    public nonisolated func beginImageUpload(expectedLength: Int64?) async throws(GearError) -> ImageUpload {
        let directory = configuration.layout.imageUploads
        let limit = configuration.fileLimits.maxUploadBytes
        return try await FileTransferIO.run { () throws(GearError) in
            try ImageUpload(directory: directory, limit: limit, expectedLength: expectedLength)
        }
    }

    /// Submits the import of a received archive as a job: `podman load` (docker-archive or oci-archive), or with
    /// `name`, `podman import` of a root file system tar as that image. The file belongs to the job from now on
    /// (a replay of the request id drops it).
    public func importImage(_ upload: ImageUpload, name: String?, requestID: RequestID?) async throws(GearError) -> Submission {
        if let name {
            guard Self.isImageName(name) else {
                await upload.abort()
                throw GearError(
                    .invalidRequest,
                    "invalid image name '\(name.prefix(80).debugEscaped)': letters, digits and . - _ / : @, starting with a letter or digit")
            }
        }
        let (_, sha256) = try await upload.finish()
        var print = Array("image-import \(name ?? "")\n\(sha256)".utf8)
        print.append(0)
        let archive = upload.path
        do {
            let submission = try await submit(.imageImport, .imageLane, fingerprint: fnv1aFingerprint(print), requestID: requestID) {
                .importImage(archive: archive, name: name)
            }
            if submission.replayed { upload.discard() } else { upload.handOver() }
            return submission
        } catch {
            upload.discard()
            throw error
        }
    }

    static func isImageName(_ name: String) -> Bool {
        (try? ContainerSpec.validateImage(name)) != nil
    }

    /// Runs podman on the archive and removes it.
    func applyImageImport(_ archive: String, name: String?) async throws -> JobResult {
        let podman = configuration.podmanPath
        defer { unlink(archive) }
        let arguments = name.map { ["import", "--quiet", archive, $0] } ?? ["load", "--input", archive]
        let (status, output) = try await BlockingIO.run { try Self.run(podman, arguments) }
        guard status == 0 else {
            let lines = output.split(separator: "\n").suffix(6).joined(separator: "\n")
            throw GearError(.invalidRequest, "podman \(arguments[0]) refused the archive (exit status \(status)): \(lines)")
        }
        var images: [String]
        if let name {
            images = [name.contains("/") ? name : "localhost/\(name)"]
        } else {
            // "Loaded image: localhost/app:1", or "Loaded image(s): a, b" for several.
            images = output.split(separator: "\n").compactMap { line -> [String]? in
                guard let colon = line.firstIndex(of: ":"), line.hasPrefix("Loaded image") else { return nil }
                return line[line.index(after: colon)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }.flatMap { $0 }
        }
        images = images.filter { !$0.isEmpty }
        return JobResult(container: nil, images: images, message: "imported \(images.isEmpty ? "the archive" : images.joined(separator: ", "))")
    }

    /// The images in podman's storage (`podman images --format json`).
    public nonisolated func images() async throws(GearError) -> [ImageInfo] {
        let podman = configuration.podmanPath
        let result: (Int32, String)
        do {
            result = try await BlockingIO.run { try Self.run(podman, ["images", "--format", "json"]) }
        } catch {
            throw Self.gearError(error)
        }
        guard result.0 == 0 else { throw GearError(.internal, "podman images failed (exit status \(result.0)): \(result.1.prefix(400))") }
        struct Listed: Decodable {
            var Id: String
            var Names: [String]?
            var Size: Int64?
            var Created: Double?
        }
        guard let listed = try? JSONDecoder().decode([Listed].self, from: Data(result.1.utf8)) else {
            throw GearError(.internal, "podman images answered what geard cannot read: \(result.1.prefix(200))")
        }
        return listed.map { image in
            ImageInfo(
                id: image.Id, names: (image.Names ?? []).sorted(), size: image.Size ?? 0,
                createdAt: image.Created.map { Date(timeIntervalSince1970: $0) })
        }.sorted { ($0.names.first ?? $0.id) < ($1.names.first ?? $1.id) }
    }

    /// Runs a program to its end; answers its exit status and what it wrote (stdout and stderr together).
    static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Removes received archives whose import job did not run (geard stopped before).
    func sweepImageUploads() async throws {
        let directory = layout.imageUploads
        try await BlockingIO.run {
            for name in try FileSystem.list(directory) where name.hasPrefix("upload-") { try FileSystem.remove("\(directory)/\(name)") }
        }
    }
}
