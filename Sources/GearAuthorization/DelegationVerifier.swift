import Foundation
import GearCertificates
public import X509

/// What this node trusts delegation tokens by: the CAs an issuer's certificate must chain to, and the names a
/// token's audience may give (this node's certificate's common name and DNS names). Reloaded with the TLS files.
public struct TokenTrust: Sendable {
    public var roots: [Certificate]
    public var audiences: Set<String>

    public init(roots: [Certificate], audiences: Set<String>) {
        self.roots = roots
        self.audiences = audiences
    }
}

/// Checks delegation tokens presented with `Authorization: Bearer` over a verified TLS connection, and turns them
/// into what the holder may do: the token's operations and containers, never more than the issuer's own grants.
public final class DelegationVerifier: Sendable {
    /// The longest a token may live (`exp - nbf`).
    public static let maxLifetime: Int64 = 3600
    /// How far the clocks of issuer and node may disagree.
    public static let clockSkew: Int64 = 60

    let trust: @Sendable () -> TokenTrust
    let ledger: UsedTokenLedger

    public init(trust: @escaping @Sendable () -> TokenTrust, ledger: UsedTokenLedger) {
        self.trust = trust
        self.ledger = ledger
    }

    /// A verified token.
    struct Verified {
        var access: Access
        var claims: DelegationToken.Claims
        var issuer: PeerIdentity
    }

    /// Verifies `text` for `holder`: signature, issuer chain, audience, holder binding, time; 401 on any failure.
    /// One-time tokens are not consumed here: `consume` does that once the request is allowed.
    func verify(_ text: String, holder: PeerIdentity, policy: AccessPolicy, now: Date = Date()) async throws(AuthorizationError) -> Verified {
        func refuse(_ reason: String) -> AuthorizationError { .unauthenticated("delegation token refused: \(reason)") }
        let token: DelegationToken
        do {
            token = try DelegationToken(parsing: text)
        } catch {
            throw refuse(error.message)
        }
        guard token.hasValidSignature else { throw refuse("the signature does not verify") }
        let trust = self.trust()
        guard await token.issuerChains(to: trust.roots) else {
            throw refuse("the issuer's certificate does not chain to this node's CAs, or is not valid now")
        }
        let claims = token.claims
        guard trust.audiences.contains(claims.aud) else { throw refuse("it is for \(claims.aud), not this node") }
        let holderMatcher: IdentityMatcher
        do {
            holderMatcher = try IdentityMatcher(parsing: claims.sub)
        } catch {
            throw refuse("its holder: \(error.message)")
        }
        guard holderMatcher.kind != .any, holderMatcher.matches(holder) else { throw refuse("it names another holder (\(claims.sub))") }
        let seconds = Int64(now.timeIntervalSince1970)
        guard claims.exp > claims.nbf, claims.exp - claims.nbf <= Self.maxLifetime else {
            throw refuse("it may live at most \(Self.maxLifetime) seconds")
        }
        guard seconds + Self.clockSkew >= claims.nbf else { throw refuse("it is not valid yet") }
        guard seconds - Self.clockSkew <= claims.exp else { throw refuse("it has expired") }
        guard !claims.jti.isEmpty, claims.jti.utf8.count <= 128 else { throw refuse("it has no usable id (jti)") }
        let operations: Set<Operation>
        do {
            operations = try AccessPolicy.operations(claims.ops, role: "token")
        } catch {
            throw refuse(error.message)
        }
        var scope = ContainerScope.all
        if let patterns = claims.containers {
            guard !patterns.isEmpty, patterns.allSatisfy(ContainerScope.isValidPattern) else { throw refuse("its container patterns are malformed") }
            scope = patterns.contains("*") ? .all : .patterns(patterns)
        }
        let issuer: PeerIdentity
        do {
            issuer = try PeerIdentity(certificate: token.issuerCertificate)
        } catch {
            throw refuse("the issuer's certificate cannot be read")
        }
        let ceiling = policy.access(for: issuer).entries
        let access = Access(entries: [.init(role: "token", operations: operations, containers: scope)], ceiling: ceiling)
        return Verified(access: access, claims: claims, issuer: issuer)
    }

    /// Marks a one-time token used; throws 401 when it was used already.
    func consume(_ claims: DelegationToken.Claims) throws -> Void {
        guard claims.once == true else { return }
        guard try ledger.consume(claims.jti, expires: claims.exp + Self.clockSkew) else {
            throw AuthorizationError.unauthenticated("delegation token refused: the one-time token \(claims.jti) was already used")
        }
    }
}
