public import GearCertificates

/// Who sent a request, as the listener it came on established it.
public enum Caller: Sendable, CustomStringConvertible {
    /// A caller on a trusted local listener (loopback TCP, the root-only unix socket): may do everything.
    case local(listener: String)
    /// A client whose certificate the TLS handshake verified.
    case certificate(PeerIdentity)
    /// A TLS client whose certificate verified but is refused (revoked): every request answers 401 with `reason`.
    case rejected(PeerIdentity, reason: String)
    /// Nobody established: every request answers 401.
    case unauthenticated
    /// A config-store transport applying this node's desired state (etcd: the node's own prefix, which only
    /// orchestrators may write, as etcd's roles enforce): `source` names where the request came from, such as the
    /// key. It may do what an operator does (`Operation.lifecycle`), to every container, and nothing else.
    case configStore(source: String)

    public var description: String {
        switch self {
        case .local(let listener): "local (\(listener))"
        case .certificate(let identity): identity.description
        case .rejected(let identity, _): identity.description
        case .unauthenticated: "unauthenticated"
        case .configStore(let source): "config store (\(source))"
        }
    }
}
