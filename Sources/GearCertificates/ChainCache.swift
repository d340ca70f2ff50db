import Crypto
public import Foundation
import Synchronization
public import X509

/// Signers' certificates that chained to a set of roots lately. Validating a chain costs far more than checking a
/// signature (a broadcast's thousand answers would each pay it): a certificate that chained is trusted again for
/// `lifetime` (never past its own expiry) for the same roots and usage, then validated afresh. Only successes are
/// kept, at most `capacity` of them. Revocations are checked per request elsewhere (the deny list), not here.
public final class ChainCache: Sendable {
    let capacity: Int
    let lifetime: TimeInterval
    private let entries = Mutex<[Key: Date]>([:])

    /// A certificate (its DER's SHA-256), the roots and the usage it was validated for.
    struct Key: Hashable {
        var certificate: [UInt8]
        var context: Int
    }

    public init(capacity: Int = 10_000, lifetime: Duration = .seconds(60)) {
        self.capacity = capacity
        self.lifetime = Double(lifetime.components.seconds)
    }

    /// Whether `jws`'s certificate chains to `roots` and may serve `usage`, from the cache when it did lately.
    public func chains(_ jws: CompactJWS, to roots: [Certificate], usage: ExtendedKeyUsage.Usage, now: Date = Date()) async -> Bool {
        var hasher = Hasher()
        for root in roots { hasher.combine(root) }
        hasher.combine(usage)
        let key = Key(certificate: Array(SHA256.hash(data: jws.certificateDER)), context: hasher.finalize())
        if let until = entries.withLock({ $0[key] }), until > now { return true }
        guard await jws.chains(to: roots, usage: usage) else { return false }
        let until = min(now.addingTimeInterval(lifetime), jws.certificate.notValidAfter)
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value > now } }
            if entries.count < capacity { entries[key] = until }
        }
        return true
    }
}
