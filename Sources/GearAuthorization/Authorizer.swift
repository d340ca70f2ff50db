import GearCertificates

/// What a transport asks: who wants to do which operation, to what. The same question whatever carried it; where
/// it came from is there only for the audit trail and is never decided on.
public struct AccessRequest: Sendable {
    public var caller: Caller
    /// The operation; nil when the transport names none for what it was asked (refused to all but local callers).
    public var operation: Operation?
    /// What it acts on: a container or a named environment (grants' patterns match either id alike); nil for what
    /// acts on the node as a whole.
    public var target: String?
    /// A delegation token the caller presented (HTTP: `Authorization: Bearer`).
    public var token: String?
    /// The request's id, for the audit trail.
    public var requestID: String
    /// The transport's words for the request, for the audit trail and refusals.
    public var origin: RequestOrigin

    public init(caller: Caller, operation: Operation?, target: String? = nil, token: String? = nil, requestID: String, origin: RequestOrigin) {
        self.caller = caller
        self.operation = operation
        self.target = target
        self.token = token
        self.requestID = requestID
        self.origin = origin
    }
}

/// Where a request came from, as its transport names it: `http` and `PUT /container/web`, `etcd` and a key.
public struct RequestOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The transport: `http`, `etcd`, ...
    public var transport: String
    /// The transport's words for the request.
    public var request: String

    public init(transport: String, request: String) {
        self.transport = transport
        self.request = request
    }

    public var description: String { "\(transport) \(request)" }
}

/// What an allowed request may touch: the containers its operation is allowed on. Lists are filtered by it, and a
/// request that names a second container (an install's `EnvironmentId`) asks it too.
public struct Authorization: Sendable {
    public var scope: ContainerScope

    public init(scope: ContainerScope) { self.scope = scope }

    /// Everything: trusted local callers.
    public static let unrestricted = Authorization(scope: .all)

    public var isRestricted: Bool { scope != .all }

    /// 403 unless `environment` is within the scope: a caller limited to some containers may only hand them
    /// environments within the same patterns.
    public func permit(environment: String) throws(AuthorizationError) {
        guard scope.contains(environment) else {
            throw AuthorizationError.forbidden("EnvironmentId \(environment) is outside what this caller may use")
        }
    }

    /// 403 unless `container` is within the scope: for a request whose body names the containers it acts on.
    public func permit(container: String) throws(AuthorizationError) {
        guard scope.contains(container) else { throw .forbidden("container \(container) is outside what this caller may change") }
    }

    /// The elements whose container id is in scope, in order.
    public func filter<Element>(_ elements: [Element], container: (Element) -> String) -> [Element] {
        isRestricted ? elements.filter { scope.contains(container($0)) } : elements
    }

    public func allows(container: String) -> Bool { scope.contains(container) }
}

/// The one decision every transport asks for: whether a caller may do an operation (to a container), by the
/// access policy in force, with delegation tokens, recording the decision in the audit trail. Callers of trusted
/// local listeners may do everything; a caller without a verified identity nothing.
public struct Authorizer: Sendable {
    public let policy: PolicyStore
    public let audit: any AuditSink
    public let delegation: DelegationVerifier?
    public var level: AuditLevel

    public init(policy: PolicyStore, audit: any AuditSink, delegation: DelegationVerifier? = nil, level: AuditLevel = .all) {
        self.policy = policy
        self.audit = audit
        self.delegation = delegation
        self.level = level
    }

    /// 401 unless the caller has an identity (local, or a certificate that is not refused). Transports ask this
    /// for what matches no operation at all (an unknown path), before telling the caller it is unknown.
    public func authenticate(_ request: AccessRequest) throws(AuthorizationError) {
        switch request.caller {
        case .local, .certificate, .configStore: return
        case .unauthenticated:
            throw .unauthenticated("a verified client certificate is required")
        case .rejected(let peer, let reason):
            record(Decision(identity: peer.description, fingerprint: peer.fingerprint, allowed: false, reason: reason), request)
            throw .unauthenticated(reason)
        }
    }

    /// Decides `request`: 401 without a valid identity or with a bad delegation token, 403 when the identity may
    /// not do this (to this container). A one-time token is consumed only when the request is allowed (the
    /// ledger's own failure, such as a full disk, is thrown as the core's error).
    public func authorize(_ request: AccessRequest) async throws -> Authorization {
        try authenticate(request)
        if case .configStore(let source) = request.caller { return try decideConfigStore(source, request) }
        guard case .certificate(let identity) = request.caller else { return .unrestricted }
        var decision = Decision(
            identity: identity.description, fingerprint: identity.fingerprint, operation: request.operation, target: request.target)
        func refuse(_ error: AuthorizationError) -> AuthorizationError {
            decision.reason = error.message
            record(decision, request)
            return error
        }

        var access: Access
        var token: DelegationToken.Claims?
        if let bearer = request.token {
            guard let delegation, identity.unixUser == nil else {
                throw refuse(
                    .unauthenticated(
                        identity.unixUser == nil ? "this node accepts no delegation tokens" : "delegation tokens are presented over HTTPS"))
            }
            do {
                let verified = try await delegation.verify(bearer, holder: identity, policy: policy.policy)
                access = verified.access
                token = verified.claims
                decision.identity = "\(identity) with token \(verified.claims.jti) from \(verified.issuer)"
            } catch {
                throw refuse(error)
            }
        } else {
            access = policy.policy.access(for: identity)
        }
        decision.roles = access.roles
        guard let operation = request.operation else {
            decision.reason = "the request names no operation"
            record(decision, request)
            throw AuthorizationError.forbidden("\(request.origin.request) is not open to certificate callers")
        }
        guard access.allows(operation, container: request.target) else {
            if access.entries.isEmpty {
                decision.reason = "\(identity) has no role"
            } else if let container = request.target, !access.scope(of: operation).isEmpty {
                decision.reason = "\(operation) on \(container) is outside what \(access.roles.joined(separator: ", ")) allows"
            } else {
                decision.reason = "\(access.roles.joined(separator: ", ")) may not \(operation)"
            }
            record(decision, request)
            throw AuthorizationError.forbidden("\(identity): \(decision.reason)")
        }
        if let token, let delegation {
            do {
                try delegation.consume(token)
            } catch {
                decision.reason = "\(error)"
                record(decision, request)
                throw error
            }
        }
        decision.allowed = true
        decision.reason = token == nil ? "granted" : "granted by token"
        record(decision, request)
        return Authorization(scope: access.scope(of: operation))
    }

    /// A config-store transport may change containers and environments as an operator can, and nothing else; its
    /// decisions are audited like a certificate caller's.
    private func decideConfigStore(_ source: String, _ request: AccessRequest) throws(AuthorizationError) -> Authorization {
        var decision = Decision(identity: "config store \(source)", fingerprint: "-", operation: request.operation, target: request.target)
        decision.roles = ["config-store"]
        guard let operation = request.operation, Operation.lifecycle.contains(operation) else {
            decision.reason = "a config store may change containers and environments only"
            record(decision, request)
            throw AuthorizationError.forbidden("\(request.operation?.rawValue ?? request.origin.request): \(decision.reason)")
        }
        decision.allowed = true
        decision.reason = "granted"
        record(decision, request)
        return .unrestricted
    }

    /// What the audit trail records of one decision.
    struct Decision {
        var identity: String
        var fingerprint: String
        var operation: Operation? = nil
        var target: String? = nil
        var allowed = false
        var reason = ""
        var roles: [String] = []
    }

    private func record(_ decision: Decision, _ request: AccessRequest) {
        guard level.records(allowed: decision.allowed, operation: decision.operation) else { return }
        audit.record(
            AuditRecord(
                identity: decision.identity, fingerprint: decision.fingerprint, operation: decision.operation?.rawValue ?? "-",
                target: decision.target, requestID: request.requestID, allowed: decision.allowed, reason: decision.reason,
                roles: decision.roles, origin: request.origin))
    }
}

/// A refusal: 401 (no valid identity) or 403 (not allowed).
public enum AuthorizationError: Error, CustomStringConvertible, Sendable {
    case unauthenticated(String)
    case forbidden(String)

    public var message: String {
        switch self {
        case .unauthenticated(let message), .forbidden(let message): message
        }
    }

    public var description: String { message }
}
