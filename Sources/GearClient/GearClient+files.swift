import AsyncHTTPClient
import Crypto
import Foundation
public import GearAPI
import GearSystem
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// File transfer: a local file into a container's volume and back, streamed both ways.
extension GearClient {
    /// The URL path of a container path: each component percent-encoded on its own.
    static func filesPath(_ id: String, _ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/;%?#")
        let components = path.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0) }
        return "/container/\(id)/files/" + components.joined(separator: "/")
    }

    /// Uploads `file` to `path` in container `id`, with its SHA-256 as `Content-Digest` so that geard stores it only
    /// if it arrived intact. `mode` is octal permission bits; `parents` creates missing directories.
    public func upload(
        _ id: String, path: String, from file: String, mode: String? = nil, parents: Bool = false, requestID: String? = nil,
        progress: (@Sendable (_ done: Int64, _ total: Int64?) -> Void)? = nil
    ) async throws -> UploadResult {
        let size = try Self.fileSize(file)
        let digest = try Self.sha256(of: file)
        let id_ = requestID ?? Self.freshRequestID()
        var request = self.request(.PUT, Self.filesPath(id, path) + (parents ? "?parents=1" : ""), requestID: id_)
        request.headers.add(name: "Content-Digest", value: "sha-256=:\(digest):")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        if let mode { request.headers.add(name: "X-File-Mode", value: mode) }
        request.body = .stream(FileChunks(path: file, total: size, progress: progress), length: .known(size))
        let answer = try await execute(request, requestID: id_, timeout: .hours(24))
        guard answer.status == 200 || answer.status == 201 else { throw GearClientError.from(answer) }
        return try answer.decode(UploadResult.self)
    }

    /// Downloads `path` of container `id` into `file`: written to a temporary file next to it and renamed when
    /// every byte arrived. Answers the number of bytes.
    @discardableResult
    public func download(
        _ id: String, path: String, to file: String, requestID: String? = nil, progress: (@Sendable (_ done: Int64, _ total: Int64?) -> Void)? = nil
    ) async throws -> Int64 {
        let id_ = requestID ?? Self.freshRequestID()
        let request = self.request(.GET, Self.filesPath(id, path), requestID: id_)
        let response = try await streaming(request, requestID: id_)
        guard response.status == .ok, response.headers.first(name: "Content-Type") == "application/octet-stream" else {
            throw try await Self.failure(response, requestID: id_, whenOK: "\(path) is a directory, not a file")
        }
        let expected = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        let directory = (file as NSString).deletingLastPathComponent
        let temporary =
            (directory.isEmpty ? "." : directory) + "/.\((file as NSString).lastPathComponent).gear-part-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor: OwnedDescriptor
        do throws(SystemError) {
            descriptor = try OwnedDescriptor(opening: temporary, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        } catch {
            throw GearClientError.local("cannot create \(temporary): \(error.reason)")
        }
        var written: Int64 = 0
        do {
            // Closed (and checked) before the rename; on a failure, as this block is left, before the unlink.
            let part = consume descriptor
            let fd = part.raw
            for try await buffer in response.body {
                do {
                    try buffer.withUnsafeReadableBytes { try SystemCall.writeAll(fd, $0, "write \(temporary)") }
                } catch let error as SystemError {
                    throw GearClientError.local("cannot write \(temporary): \(error.reason)")
                }
                written += Int64(buffer.readableBytes)
                progress?(written, expected)
            }
            if let expected, written != expected {
                throw GearClientError.local("the download ended after \(written) of \(expected) bytes")
            }
            guard fsync(fd) == 0 else { throw GearClientError.local("cannot write \(temporary): \(String(cString: strerror(errno)))") }
            do throws(SystemError) {
                try part.close("close \(temporary)")
            } catch {
                throw GearClientError.local("cannot write \(temporary): \(error.reason)")
            }
            guard rename(temporary, file) == 0 else { throw GearClientError.local("cannot rename to \(file): \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error
        }
        return written
    }

    static func fileSize(_ file: String) throws -> Int64 {
        var info = stat()
        guard stat(file, &info) == 0 else { throw GearClientError.local("cannot read \(file): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw GearClientError.local("\(file) is not a regular file") }
        return Int64(info.st_size)
    }

    /// The SHA-256 of a file, base64-encoded.
    static func sha256(of file: String) throws -> String {
        let descriptor: OwnedDescriptor
        do throws(SystemError) {
            descriptor = try OwnedDescriptor(opening: file, O_RDONLY)
        } catch {
            throw GearClientError.local("cannot read \(file): \(error.reason)")
        }
        let fd = descriptor.raw
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in SystemCall.retryingInterrupts { read(fd, raw.baseAddress!, raw.count) } }
            if n < 0 { throw GearClientError.local("cannot read \(file): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return Data(hasher.finalize()).base64EncodedString()
    }
}

/// A file's bytes as an async sequence of 1 MiB buffers (AsyncHTTPClient asks for the next one when it can send).
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let total: Int64
    let progress: (@Sendable (Int64, Int64?) -> Void)?

    /// The file being read: open until its end is read, or until the last copy of the iterator goes (an iterator
    /// is copyable, so this is a class).
    final class OpenFile {
        var descriptor: OwnedDescriptor?
        /// Why it could not be opened (`errno`); 0 when it was.
        let failure: Int32

        init(_ path: String) {
            do throws(SystemError) {
                descriptor = try OwnedDescriptor(opening: path, O_RDONLY)
                failure = 0
            } catch {
                descriptor = nil
                failure = error.errno
            }
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: OpenFile
        let path: String
        let total: Int64
        let progress: (@Sendable (Int64, Int64?) -> Void)?
        var done: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard file.failure == 0 else { throw GearClientError.local("cannot read \(path): \(String(cString: strerror(file.failure)))") }
            guard let fd = file.descriptor?.raw else { return nil }  // its end was read
            var buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
            var failure: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { raw in
                let n = SystemCall.retryingInterrupts { read(fd, raw.baseAddress!, 1 << 20) }
                if n >= 0 { return n }
                failure = errno
                return 0
            }
            if failure != 0 { throw GearClientError.local("cannot read \(path): \(String(cString: strerror(failure)))") }
            if buffer.readableBytes == 0 {
                file.descriptor = nil  // closes it
                return nil
            }
            done += Int64(buffer.readableBytes)
            progress?(done, total)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(file: OpenFile(path), path: path, total: total, progress: progress)
    }
}
