import Foundation
public import GearAPI
public import GearAuthorization
public import GearCore
public import Hummingbird
public import NIOCore

/// The per-request context: Hummingbird's core storage plus the request id and the connection.
public struct GearRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-Id` if it sent a valid one, else one geard made. Every response
    /// echoes it, and a mutating request's job takes it as its id.
    public var requestID: GearRequestID
    /// True when the request speaks geard's protocol (`X-Api-Version: 1`): answered as geard's client reads them.
    public var geard = false
    /// True when the client supplied the request id.
    public var clientRequestID = false
    /// The connection the request came on (for peer credentials and TLS identity).
    public let channel: any Channel
    /// True when the request came from one of geard's listeners (not an in-process test router): its body can
    /// tell when the client closes the connection, which ends log follows.
    public var liveConnection = false
    /// True when the request came on an HTTP/2 stream (which cannot become a WebSocket).
    public var http2 = false
    /// Who sent the request, as its listener established it; nobody until a listener says so.
    public var caller: Caller = .unauthenticated
    /// What the authorizer allowed: the containers the caller may see for this request's operation (lists are
    /// filtered to it). Unrestricted for local callers.
    public var authorization: Authorization = .unrestricted
    /// For a request another transport carries (`GearHTTPServer.answer`): the operation it named and the transport.
    /// The endpoint refuses it unless its own operation is that one.
    public var carried: (operation: GearAuthorization.Operation, transport: String)?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.requestID = GearRequestID.random()
    }

    /// JSON bodies are read up to 1 MiB; larger ones are refused with 413.
    public var maxUploadSize: Int { GearAPI.maxJSONBodySize }
}

extension GearRequestContext {
    /// A path parameter (`{id}`, `{name}`), percent-decoded: `%3D%3D` is the `==` of a base64url request id, as a
    /// client may encode it. Empty when missing; what is not valid UTF-8 after decoding stays encoded (and is refused
    /// by the id's own check).
    public func pathParameter(_ name: String) -> String {
        let raw = parameters.get(name) ?? ""
        // Most ids hold no escape: decoding those would cost every request an NSString round trip.
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        return raw.removingPercentEncoding ?? raw
    }
}
