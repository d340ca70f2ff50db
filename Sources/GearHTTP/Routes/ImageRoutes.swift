import GearAPI
import GearAuthorization
import GearCore
import Hummingbird
import NIOCore

/// `/images`: the images in the node's podman storage, and imports of image archives (nodes need not reach a
/// registry). An import is a job: the body is received whole first, then podman loads it.
struct ImageRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/images", .imagesRead, use: list)
        routes.on(.post, "/images", .imagesWrite, use: importImage)
    }

    @Sendable func list(_ request: Request, context: GearRequestContext) async throws -> Response {
        JSONResponse.make(ImageList(images: try await agent.images()))
    }

    /// `POST /images` with a docker-archive or oci-archive (`podman save`), or with `?name=NAME` a root file
    /// system tar imported as that image.
    @Sendable func importImage(_ request: Request, context: GearRequestContext) async throws -> Response {
        _ = try JobResponses.requestedWait(request)
        let name: String? = request.uri.queryParameters.get("name").map { String($0) }
        let upload: ImageUpload
        do {
            upload = try await agent.beginImageUpload(expectedLength: try FileHeaders.contentLength(request.headers))
        } catch {
            if error.code != .tooLarge { try? await FileRoutes.discard(request.body, upTo: FileRoutes.refusedBodyAllowance) }
            throw error
        }
        do {
            try await FileRoutes.inBatches(request.body) { batch in try await upload.write(batch) }
        } catch {
            await upload.abort()
            throw error
        }
        let submission = try await agent.importImage(upload, name: name, requestID: context.requestID)
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }
}
