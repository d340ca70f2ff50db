import AsyncHTTPClient
import Foundation
public import GearAPI
public import NIOCore
import NIOHTTP1

/// Tar archives into and out of volumes, and image imports. The tar bytes come from (and go to) the caller:
/// `gear` writes and reads them with GearArchive.
extension GearClient {
    /// What a path inside a container is: a file, a directory, or nothing (`HEAD` of the files route).
    public enum PathKind: Sendable { case file, directory, missing }

    public func pathKind(_ id: String, path: String) async throws -> PathKind {
        let answer = try await send(.HEAD, Self.filesPath(id, path))
        switch answer.status {
        case 200: return answer.header("Content-Type") == "application/json" ? .directory : .file
        case 404 where (answer.header("Content-Type") ?? "").hasPrefix("application/json"):
            // An unknown container is a 404 too: tell them apart with the status route.
            let status = try await send(.GET, "/container/\(id)/status")
            guard status.status == 200 else { throw GearClientError.from(status) }
            return .missing
        default:
            // HEAD answers carry no body: the same GET tells why.
            throw GearClientError.from(try await send(.GET, Self.filesPath(id, path)))
        }
    }

    /// Extracts the tar stream `body` into the directory `path` of container `id` (created with `parents`).
    public func uploadArchive<Body: AsyncSequence & Sendable>(
        _ id: String, path: String, parents: Bool, body: Body, requestID: String? = nil
    ) async throws -> ArchiveResult where Body.Element == ByteBuffer {
        let id_ = requestID ?? Self.freshRequestID()
        var request = self.request(.PUT, Self.archivePath(id, path) + (parents ? "&parents=1" : ""), requestID: id_)
        request.headers.add(name: "Content-Type", value: "application/x-tar")
        request.body = .stream(body, length: .unknown)
        let answer = try await execute(request, requestID: id_, timeout: .hours(24))
        guard answer.status == 200 else { throw GearClientError.from(answer) }
        return try answer.decode(ArchiveResult.self)
    }

    /// Streams `path` of container `id` (a file or a directory) as a tar, handing each chunk to `consume`; answers
    /// the number of bytes.
    @discardableResult
    public func downloadArchive(
        _ id: String, path: String, requestID: String? = nil, consume: @Sendable (ByteBuffer) throws -> Void
    ) async throws -> Int64 {
        let id_ = requestID ?? Self.freshRequestID()
        let request = self.request(.GET, Self.archivePath(id, path), requestID: id_)
        let response = try await streaming(request, requestID: id_)
        guard response.status == .ok else { throw try await Self.failure(response, requestID: id_) }
        var total: Int64 = 0
        for try await buffer in response.body {
            total += Int64(buffer.readableBytes)
            try consume(buffer)
        }
        return total
    }

    static func archivePath(_ id: String, _ path: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#%")
        return "/container/\(id)/archive?path=" + (path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path)
    }

    /// Sends an image archive (`podman save`, or a root file system tar with `name`) to `POST /images`; waits up to
    /// `wait` seconds for the import job.
    public func importImage(
        from file: String, name: String? = nil, wait: Double? = nil, requestID: String? = nil,
        progress: (@Sendable (_ done: Int64, _ total: Int64?) -> Void)? = nil
    ) async throws -> JobAnswer {
        let size = try Self.fileSize(file)
        let id_ = requestID ?? Self.freshRequestID()
        var query: [String] = []
        if let name {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+#%")
            query.append("name=" + (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name))
        }
        if let wait { query.append("wait=\(wait)") }
        var request = self.request(.POST, "/images" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")), requestID: id_)
        request.headers.add(name: "Content-Type", value: "application/x-tar")
        request.body = .stream(FileChunks(path: file, total: size, progress: progress), length: .known(size))
        let answer = try await execute(request, requestID: id_, timeout: .hours(24))
        switch answer.status {
        case 200, 202:
            return JobAnswer(status: answer.status, job: try answer.decode(Job.self), portMapping: nil)
        default:
            throw GearClientError.from(answer)
        }
    }

    /// The images in the node's podman storage.
    public func images() async throws -> [ImageInfo] {
        let answer = try await send(.GET, "/images")
        guard answer.status == 200 else { throw GearClientError.from(answer) }
        return try answer.decode(ImageList.self).images
    }

    /// Sends a request whose answer is read as it comes; checks that it echoes `requestID`.
    func streaming(_ request: HTTPClientRequest, requestID id: String) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(24))
        } catch {
            throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
        }
        let echoed = response.headers.first(name: GearAPI.requestIDHeader)
        guard echoed?.lowercased() == id.lowercased() else { throw GearClientError.mismatchedRequestID(sent: id, received: echoed) }
        return response
    }

    /// The error an answer that is not what was asked for carries (its body read, up to 1 MiB); `whenOK` says why
    /// a 200 is not what was asked for.
    static func failure(_ response: HTTPClientResponse, requestID: String, whenOK: String? = nil) async throws -> GearClientError {
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        if response.status == .ok, let whenOK { return .unexpected(status: 200, body: whenOK) }
        return .from(
            Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: body, requestID: requestID))
    }
}
