import Foundation
import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Synchronization

/// `/container/{id}/files/{path}`: files in and out of a container's volumes, streamed both ways.
///
/// The path is the container's (`/container/web/files/data/a.txt` is `/data/a.txt` inside `web`) and must lie in
/// one of its volumes. Uploads are atomic and verified (`VolumeTree`, `FileUpload`); downloads resume with
/// `Range` and validate with `ETag`/`Last-Modified`.
struct FileRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/container/{id}/files/{path}", .filesRead, target: .container, use: get)
        routes.on(.head, "/container/{id}/files/{path}", .filesRead, target: .container, use: get)
        routes.on(.put, "/container/{id}/files/{path}", .filesWrite, target: .container, use: put)
        routes.on(.delete, "/container/{id}/files/{path}", .filesWrite, target: .container, use: delete)
    }

    /// Bytes read from and written to volumes.
    static let bytesIn = Counter(label: "gear_file_transfer_bytes_total", dimensions: [("direction", "upload")])
    static let bytesOut = Counter(label: "gear_file_transfer_bytes_total", dimensions: [("direction", "download")])

    /// Upload bodies are written in batches of about this many bytes (one hop to the I/O threads each).
    static let writeBatch = 1 << 20
    /// Downloads are read in chunks of this many bytes. 1 MiB chunks served 1 GiB at 1.4x the rate of 256 KiB ones
    /// (fewer hops between the I/O threads and the event loop); reading the next chunk while sending the last was
    /// slower still on two cores, so a download reads, then sends.
    static let readChunk = 1 << 20

    /// The volume path the request names: the catch-all components, percent-decoded one by one. A `%2F` separates
    /// components as `/` does (OpenAPI clients encode a path parameter's slashes so), and every component is checked
    /// after that: `%2e%2e` and `..%2F..` are `..` components, refused.
    private func path(_ context: GearRequestContext) throws -> VolumePath {
        let id = try ContainerID(context.pathParameter("id"))
        var components: [String] = []
        for raw in context.parameters.getCatchAll() {
            guard let decoded = raw.removingPercentEncoding else {
                throw GearError(.invalidRequest, "the path has an invalid percent-encoding in '\(raw.prefix(80))'")
            }
            components += decoded.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        }
        return try agent.volumePath(id, components)
    }

    @Sendable func get(_ request: Request, context: GearRequestContext) async throws -> Response {
        let path = try path(context)
        switch try await agent.openFile(path) {
        case .directory(let listing):
            if request.method == .head {
                return Response(status: .ok, headers: [.contentType: "application/json"])
            }
            return JSONResponse.make(listing)
        case .file(let file):
            return try fileResponse(file, request: request, context: context)
        }
    }

    private func fileResponse(_ file: FileDownload, request: Request, context: GearRequestContext) throws -> Response {
        let size = file.size
        let lastModified = FileHeaders.httpDate(file.entry.modifiedAt)
        var headers: HTTPFields = [
            .contentType: "application/octet-stream", .eTag: file.entityTag, .lastModified: lastModified, .acceptRanges: "bytes",
        ]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[FileHeaders.fileMode] = file.entry.mode

        if let match = request.headers[.ifNoneMatch],
            match == "*" || match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.entityTag })
        {
            file.close()
            return Response(status: .notModified, headers: headers)
        }
        var range: ClosedRange<Int64>?
        let rangeStillValid = request.headers[.ifRange].map { $0 == file.entityTag || $0 == lastModified } ?? true
        if rangeStillValid {
            do {
                range = try FileHeaders.range(request.headers, size: size)
            } catch {
                file.close()
                var response = APIMiddleware.errorResponse(error, requestID: context.requestID.rawValue)
                response.headers[.contentRange] = "bytes */\(size)"
                return response
            }
        }
        let start = range?.lowerBound ?? 0
        let length = range.map { $0.upperBound - $0.lowerBound + 1 } ?? size
        if let range { headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)" }
        headers[.contentLength] = String(length)
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        if request.method == .head {
            file.close()
            return Response(status: status, headers: headers)
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            defer { file.close() }
            var offset = start
            let end = start + length
            while offset < end {
                let chunk = try await file.read(at: offset, length: Int(min(Int64(Self.readChunk), end - offset)))
                guard chunk.readableBytes > 0 else {
                    // The file shrank after its length was announced: end the connection rather than send a
                    // body that does not match the headers.
                    throw GearError(.conflict, "\(file.entry.path) shrank during the download")
                }
                offset += Int64(chunk.readableBytes)
                Self.bytesOut.increment(by: chunk.readableBytes)
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    @Sendable func put(_ request: Request, context: GearRequestContext) async throws -> Response {
        let upload: FileUpload
        do {
            let path = try path(context)
            let options = UploadOptions(
                mode: try FileHeaders.mode(request.headers), createParents: try QueryFlags.bool(request, "parents") ?? false,
                expectedLength: try FileHeaders.contentLength(request.headers), digests: try FileHeaders.digests(request.headers))
            upload = try await agent.beginUpload(path, options: options)
        } catch {
            // Clients that send the whole body before they read the answer (AsyncHTTPClient, curl after 100 Continue)
            // see a connection cut under them and lose the message: read a modest refused body to its end first.
            if (error as? GearError)?.code != .tooLarge { try? await Self.discard(request.body, upTo: Self.refusedBodyAllowance) }
            throw error
        }
        let result: UploadResult
        do {
            try await Self.inBatches(request.body) { batch in try await upload.write(batch) }
            result = try await upload.commit()
        } catch {
            await upload.abort()
            throw error
        }
        var headers: HTTPFields = [:]
        if result.created { headers[.location] = request.uri.path }
        return JSONResponse.make(result, status: result.created ? .created : .ok, headers: headers)
    }

    /// Hands the body on in batches of about `writeBatch` bytes (one hop to the I/O threads each), counting them.
    /// One batch is written while the next is received: the socket is read while the disk works, and no more than
    /// two batches are held. Each batch is one buffer of its own: the body's parts are copied into it and let go,
    /// because a part can be a slice of a much larger buffer (NIOSSL's decrypted reads) and holding the slices
    /// holds all of it (an HTTPS/2 upload of 1 GiB peaked 11 MiB above geard's idle size with slices, 4 with copies).
    ///
    /// An upload slower than the server's minimum rate (`StreamLimits.minimumUploadRate` over each window) is cut
    /// with `UploadRateError`: a client that stalls holds no connection, buffer or temporary file for long.
    static func inBatches(_ body: RequestBody, _ write: @escaping @Sendable ([ByteBuffer]) async throws -> Void) async throws {
        guard let rate = StreamAdmission.uploadRate else { return try await receive(body, counting: nil, write) }
        let received = ReceivedBytes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await receive(body, counting: received, write) }
            group.addTask {
                var before = 0
                while true {
                    try await Task.sleep(for: rate.window)
                    let now = received.count.load(ordering: .relaxed)
                    if now - before < rate.bytes {
                        throw UploadRateError(
                            description:
                                "the upload sent \(now - before) bytes in \(rate.window), less than the \(rate.bytes) this node asks for; it was cut and nothing of it kept"
                        )
                    }
                    before = now
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Bytes of an upload received so far, for its rate.
    final class ReceivedBytes: Sendable {
        let count = Atomic<Int>(0)
    }

    private static func receive(
        _ body: RequestBody, counting received: ReceivedBytes?, _ write: @escaping @Sendable ([ByteBuffer]) async throws -> Void
    ) async throws {
        let allocator = ByteBufferAllocator()
        var batch = allocator.buffer(capacity: writeBatch)
        var writing: Task<Void, any Error>?
        do {
            for try await buffer in body {
                // A full batch goes before it would have to grow (a grown buffer doubles); only a part larger than a
                // batch makes a larger one, alone.
                let flush = batch.readableBytes >= writeBatch || buffer.readableBytes > batch.writableBytes
                if flush && batch.readableBytes > 0 {
                    try await writing?.value
                    let full = batch
                    writing = Task { try await write([full]) }
                    bytesIn.increment(by: full.readableBytes)
                    batch = allocator.buffer(capacity: writeBatch)
                }
                batch.writeImmutableBuffer(buffer)
                received?.count.add(buffer.readableBytes, ordering: .relaxed)
            }
            try await writing?.value
        } catch {
            // A failed write ends the upload; a body that broke off waits for the write in flight first.
            // (`.result`, not `try? await .value`: the latter crashes Swift 6.3's optimizer in this coroutine.)
            _ = await writing?.result
            throw error
        }
        if batch.readableBytes > 0 {
            try await write([batch])
            bytesIn.increment(by: batch.readableBytes)
        }
    }

    /// How much of a refused upload's body is read (and dropped) so that the client reads the refusal.
    static let refusedBodyAllowance = 8 << 20

    static func discard(_ body: RequestBody, upTo limit: Int) async throws {
        var seen = 0
        for try await buffer in body {
            seen += buffer.readableBytes
            if seen > limit { return }
        }
    }

    @Sendable func delete(_ request: Request, context: GearRequestContext) async throws -> Response {
        let path = try path(context)
        let removed = try await agent.deleteFile(path, recursive: try QueryFlags.bool(request, "recursive") ?? false)
        return JSONResponse.make(removed)
    }
}
