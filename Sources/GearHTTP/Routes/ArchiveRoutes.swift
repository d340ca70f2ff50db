import Foundation
import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// `/container/{id}/archive?path=P`: tar streams in and out of a container's volumes (the `docker cp` and podman
/// archive model). `PUT` extracts a tar (or tar.gz) into the directory P, all or nothing; `GET` answers P, a
/// file or a directory, as a tar (gzip with `?gzip=1`, or as the content coding with `Accept-Encoding: gzip`).
struct ArchiveRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/container/{id}/archive", .filesRead, target: .container, use: get)
        routes.on(.put, "/container/{id}/archive", .filesWrite, target: .container, use: put)
    }

    private func path(_ request: Request, _ context: GearRequestContext) throws -> VolumePath {
        let id = try ContainerID(context.pathParameter("id"))
        guard let text = request.uri.queryParameters.get("path") else {
            throw GearError(.invalidRequest, "the query parameter path is required, e.g. ?path=/data/logs")
        }
        return try agent.volumePath(id, try VolumePath.components(of: text))
    }

    @Sendable func get(_ request: Request, context: GearRequestContext) async throws -> Response {
        let path = try path(request, context)
        let asFile = try QueryFlags.bool(request, "gzip") ?? false
        let coding =
            !asFile
            && (request.headers[.acceptEncoding]?.lowercased().split(separator: ",").contains {
                $0.trimmingCharacters(in: .whitespaces).hasPrefix("gzip")
            } ?? false)
        let archive = try await agent.openArchive(path, gzip: asFile || coding)
        let filename = archive.name.replacingOccurrences(of: "\"", with: "_") + (asFile ? ".tar.gz" : ".tar")
        var headers: HTTPFields = [
            .contentType: asFile ? "application/gzip" : "application/x-tar", .contentDisposition: "attachment; filename=\"\(filename)\"",
        ]
        if coding { headers[.contentEncoding] = "gzip" }
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        let body = ResponseBody { writer in
            while let chunk = try await archive.next() {
                FileRoutes.bytesOut.increment(by: chunk.readableBytes)
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    @Sendable func put(_ request: Request, context: GearRequestContext) async throws -> Response {
        let upload: ArchiveUpload
        do {
            let path = try path(request, context)
            upload = try await agent.beginArchiveUpload(
                path, createTarget: try QueryFlags.bool(request, "parents") ?? false, expectedLength: try FileHeaders.contentLength(request.headers))
        } catch {
            if (error as? GearError)?.code != .tooLarge { try? await FileRoutes.discard(request.body, upTo: FileRoutes.refusedBodyAllowance) }
            throw error
        }
        let result: ArchiveResult
        do {
            try await FileRoutes.inBatches(request.body) { batch in try await upload.write(batch) }
            result = try await upload.commit()
        } catch {
            await upload.abort()
            throw error
        }
        return JSONResponse.make(result)
    }
}
