public import GearAuthorization
public import GearCore
import Hummingbird
import HummingbirdCore
public import Logging
import NIOCore
public import Prometheus

/// geard's HTTP API: the router over a `NodeAgent`, served on any number of listeners.
public struct GearHTTPServer: Sendable {
    public let agent: NodeAgent
    let logger: Logger
    let routerResponder: RouterResponder<GearRequestContext>
    /// The long-lived streams each caller holds.
    let streams: StreamGate

    /// - Parameters:
    ///   - authorizer: what certificate callers may do, where decisions are recorded, delegation tokens; the
    ///     default: roles from certificates' OUs, decisions logged, no tokens.
    ///   - streams: how many log follows, event follows and job waits each caller may hold, and SSE keep-alives.
    public init(
        agent: NodeAgent, logger: Logger, authorizer: Authorizer? = nil, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        streams: StreamLimits = StreamLimits()
    ) {
        self.agent = agent
        self.logger = logger
        self.streams = StreamGate(limits: streams)
        self.routerResponder = Self.makeRouter(
            agent: agent, authorizer: authorizer ?? Authorizer(policy: PolicyStore(policy: .default), audit: LoggerAuditSink(logger: logger)),
            metrics: metrics
        ).buildResponder()
    }

    /// The routes, behind the middleware that checks request ids and maps errors, then the one that authenticates
    /// requests no route matches; each route authorizes its own operation (`EndpointRegistrar`).
    static func makeRouter(
        agent: NodeAgent,
        authorizer: Authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: LoggerAuditSink(logger: Logger(label: "geard"))),
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> Router<GearRequestContext> {
        makeRoutes(agent: agent, authorizer: authorizer, metrics: metrics).router
    }

    /// The router and every endpoint it serves, in the order the route groups declare them.
    static func makeRoutes(
        agent: NodeAgent,
        authorizer: Authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: LoggerAuditSink(logger: Logger(label: "geard"))),
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> (router: Router<GearRequestContext>, endpoints: [Endpoint]) {
        let router = Router(context: GearRequestContext.self)
        // Outermost, so that it counts every answer with its final status (errors included).
        router.add(middleware: MetricsMiddleware<GearRequestContext>())
        router.add(middleware: APIMiddleware())
        router.add(middleware: AuthorizationMiddleware(authorizer: authorizer))
        let routes = EndpointRegistrar(router: router, authorizer: authorizer)
        ContainerRoutes(agent: agent).register(on: routes)
        ExecRoutes(agent: agent).register(on: routes)
        JobRoutes(agent: agent).register(on: routes)
        LogRoutes(agent: agent).register(on: routes)
        EventRoutes(agent: agent).register(on: routes)
        EnvironmentRoutes(agent: agent).register(on: routes)
        FileRoutes(agent: agent).register(on: routes)
        ArchiveRoutes(agent: agent).register(on: routes)
        ImageRoutes(agent: agent).register(on: routes)
        NodeRoutes(agent: agent).register(on: routes)
        LeaseRoutes(agent: agent).register(on: routes)
        MetricsRoutes(registry: metrics).register(on: routes)
        return (router, routes.endpoints)
    }

    /// The responder for the requests of one caller (on an HTTP/2 connection or not).
    func responder(for caller: Caller, http2: Bool = false) -> HTTPChannelHandler.Responder {
        let (routerResponder, logger, gate) = (self.routerResponder, self.logger, self.streams)
        return { request, responseWriter, channel in
            var context = GearRequestContext(source: .init(channel: channel, logger: logger))
            context.liveConnection = true
            context.caller = caller
            context.http2 = http2
            let response: Response
            do {
                // The handler takes its places for long-lived streams here; a body written later keeps them.
                response = try await StreamAdmission.$current.withValue(StreamAdmission(gate: gate, caller: caller)) {
                    try await routerResponder.respond(to: request, context: context)
                }
            } catch {
                response = APIMiddleware.errorResponse(error, requestID: nil)
            }
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }

    /// The answer to a WebSocket upgrade request of `caller`: the router's (the route accepts with 101 and leaves its
    /// session in the `WebSocketSlot`), with the same middleware, authorization and request ids as every request.
    func webSocketDecider(for caller: Caller) -> WebSocketDecider {
        let (routerResponder, logger, gate) = (self.routerResponder, self.logger, self.streams)
        return { head, channel in
            var context = GearRequestContext(source: .init(channel: channel, logger: logger))
            context.liveConnection = true
            context.caller = caller
            let slot = WebSocketSlot()
            let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            let response: Response
            do {
                response = try await WebSocketSlot.$current.withValue(slot) {
                    try await StreamAdmission.$current.withValue(StreamAdmission(gate: gate, caller: caller)) {
                        try await routerResponder.respond(to: request, context: context)
                    }
                }
            } catch {
                response = APIMiddleware.errorResponse(error, requestID: nil)
            }
            return (response, response.status == .switchingProtocols ? slot.accepted : nil)
        }
    }

    /// A listener service on `address`: trusted (plain HTTP) or HTTPS with client certificates.
    public func listener(
        _ address: ListenAddress, security: ListenerSecurity = .trusted, limits: ConnectionLimits = ConnectionLimits(),
        onBound: @escaping @Sendable (Int?) -> Void = { _ in }
    )
        -> HTTPListener
    {
        let server = self
        return HTTPListener(
            address: address, security: security, responder: { server.responder(for: $0, http2: $1) },
            webSocket: { server.webSocketDecider(for: $0) }, logger: logger, limits: limits, onBound: onBound)
    }
}
