public import GearCore
import Hummingbird
import HummingbirdCore
public import Logging
import NIOCore

/// geard's HTTP API: the router over a `NodeAgent`, served on any number of listeners.
public struct GearHTTPServer: Sendable {
    public let agent: NodeAgent
    private let logger: Logger
    private let responder: HTTPChannelHandler.Responder

    public init(agent: NodeAgent, logger: Logger) {
        self.agent = agent
        self.logger = logger
        let router = Self.makeRouter(agent: agent)
        let routerResponder = router.buildResponder()
        self.responder = { request, responseWriter, channel in
            var context = GearRequestContext(source: .init(channel: channel, logger: logger))
            context.liveConnection = true
            let response: Response
            do {
                response = try await routerResponder.respond(to: request, context: context)
            } catch {
                response = APIMiddleware.errorResponse(error, requestID: nil)
            }
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }

    /// The routes, behind the middleware that checks request ids and maps errors.
    static func makeRouter(agent: NodeAgent) -> Router<GearRequestContext> {
        let router = Router(context: GearRequestContext.self)
        router.add(middleware: APIMiddleware())
        ContainerRoutes(agent: agent).register(on: router)
        JobRoutes(agent: agent).register(on: router)
        LogRoutes(agent: agent).register(on: router)
        NodeRoutes(agent: agent).register(on: router)
        return router
    }

    /// A listener service on `address`.
    public func listener(_ address: ListenAddress, onBound: @escaping @Sendable (Int?) -> Void = { _ in }) -> HTTPListener {
        HTTPListener(address: address, responder: responder, logger: logger, onBound: onBound)
    }
}
