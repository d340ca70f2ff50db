import GearAuthorization
import GearCertificates
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import Metrics
import NIOCore
import NIOSSL
import NIOTLS

/// How a listener establishes who its callers are.
public enum ListenerSecurity: Sendable, CustomStringConvertible {
    /// Every caller is trusted as local (loopback TCP, the root-only unix socket).
    case trusted
    /// HTTPS: a client certificate chaining to the configured CAs is required, and it names the caller.
    case mutualTLS(TLSContextStore)

    public var description: String {
        switch self {
        case .trusted: "plain"
        case .mutualTLS: "mtls"
        }
    }
}

/// The protocol a TLS connection negotiated, with the channel handler that serves it for its caller.
enum NegotiatedConnection: Sendable {
    case http1(UpgradableHTTP1Channel, UpgradableHTTP1Channel.Value)
    case http2(HTTP2Connection, HTTP2Connection.Value)
}

extension HTTPListener {
    /// TLS handshakes by outcome: `gear_tls_handshakes_total{result="http2"|"http1"|"failed"}`.
    static let handshakes = (
        http1: Counter(label: "gear_tls_handshakes_total", dimensions: [("result", "http1")]),
        http2: Counter(label: "gear_tls_handshakes_total", dimensions: [("result", "http2")]),
        failed: Counter(label: "gear_tls_handshakes_total", dimensions: [("result", "failed")])
    )

    /// Adds TLS to a new connection; once the handshake is done (ALPN answers), reads the caller from the
    /// verified client certificate and sets the connection up for HTTP/2 or HTTP/1.1 with a responder bound to
    /// that caller. A client that does not finish its handshake in time is disconnected.
    func setUpTLS(_ channel: any Channel, store: TLSContextStore) -> EventLoopFuture<EventLoopFuture<NegotiatedConnection>> {
        let logger = self.logger
        let responderFor = self.responderFactory
        return channel.eventLoop.makeCompletedFuture {
            let (context, denied) = store.current
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<NegotiatedConnection> { result in
                let caller = Self.caller(of: channel, denied: denied)
                switch result {
                case .negotiated("h2"):
                    let http = HTTP2Connection(
                        responder: responderFor(caller, true), idleTimeout: .seconds(Self.idleTimeout.nanoseconds / 1_000_000_000))
                    return http.setup(channel: channel, logger: logger).map { .http2(http, $0) }
                case .negotiated("http/1.1"), .fallback:
                    let http = self.http1(for: caller, secure: true)
                    return http.setup(channel: channel, logger: logger).map { .http1(http, $0) }
                case .negotiated(let other):
                    return channel.close().flatMapThrowing { throw TLSSetupError("the client negotiated \(other)") }
                }
            }
            try channel.pipeline.syncOperations.addHandler(negotiation)
            let deadline = channel.eventLoop.scheduleTask(in: Self.handshakeTimeout) { channel.close(promise: nil) }
            negotiation.protocolNegotiationResult.whenComplete { result in
                deadline.cancel()
                switch result {
                case .success(.http1): Self.handshakes.http1.increment()
                case .success(.http2): Self.handshakes.http2.increment()
                case .failure: Self.handshakes.failed.increment()
                }
            }
            return negotiation.protocolNegotiationResult
        }
    }

    /// The caller named by the verified peer certificate (called on the channel's event loop, after the handshake).
    static func caller(of channel: any Channel, denied: DenyList) -> Caller {
        guard let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate(),
            let der = try? certificate.toDERBytes(),
            let identity = try? PeerIdentity(derEncoded: der)
        else { return .unauthenticated }
        if let reason = denied.reason(for: identity) { return .rejected(identity, reason: reason) }
        return .certificate(identity)
    }
}
