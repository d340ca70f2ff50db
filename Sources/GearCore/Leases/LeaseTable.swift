public import Foundation
public import GearAPI
import Synchronization

/// Named leases kept in memory: one holder each until it expires or is released. They are advisory (nothing else
/// in geard looks at them) and do not outlive geard: after a restart every lease is free, which costs a deploy that
/// ran at that moment nothing but the guard.
public final class LeaseTable: Sendable {
    public static let maxLeases = 1024
    public static let maxSeconds = 3600

    private let leases = Mutex<[String: Lease]>([:])
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = Date.init) {
        self.now = now
    }

    /// Takes `name` for `holder`, or renews it when `holder` has it; `.conflict` when another holder has it.
    public func acquire(_ name: String, holder: String, seconds: Int) throws(GearError) -> Lease {
        try Self.validate(name: name)
        guard (1...256).contains(holder.utf8.count), ContainerSpec.firstForbiddenCharacter(holder) == nil, !holder.contains("\t") else {
            throw .invalid("Holder: 1 to 256 bytes without control characters")
        }
        guard (1...Self.maxSeconds).contains(seconds) else { throw .invalid("Seconds must be 1 to \(Self.maxSeconds)") }
        let now = now()
        return try leases.withLock { (leases: inout [String: Lease]) throws(GearError) -> Lease in
            if let held = leases[name], held.expiresAt > now, held.holder != holder {
                throw GearError(
                    .conflict, "lease \(name) is held by \(held.holder) until \(GearJSON.format(held.expiresAt))")
            }
            if leases[name] == nil, leases.count >= Self.maxLeases {
                leases = leases.filter { $0.value.expiresAt > now }
                guard leases.count < Self.maxLeases else { throw GearError(.conflict, "more than \(Self.maxLeases) leases are held") }
            }
            let lease = Lease(name: name, holder: holder, expiresAt: now.addingTimeInterval(TimeInterval(seconds)))
            leases[name] = lease
            return lease
        }
    }

    /// Lets `name` go; a lease that is free or expired already is fine (a retry is safe), another holder's is `.conflict`.
    public func release(_ name: String, holder: String) throws(GearError) {
        try Self.validate(name: name)
        let now = now()
        try leases.withLock { (leases: inout [String: Lease]) throws(GearError) in
            guard let held = leases[name] else { return }
            if held.expiresAt > now, held.holder != holder {
                throw GearError(.conflict, "lease \(name) is held by \(held.holder), not \(holder)")
            }
            leases[name] = nil
        }
    }

    /// The lease when someone holds it.
    public func current(_ name: String) throws(GearError) -> Lease {
        try Self.validate(name: name)
        let now = now()
        guard let lease = leases.withLock({ $0[name] }), lease.expiresAt > now else { throw GearError(.notFound, "lease \(name) is free") }
        return lease
    }

    static func validate(name: String) throws(GearError) {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count), bytes[0].isASCIIAlphanumeric,
            bytes.allSatisfy({ $0.isASCIIAlphanumeric || "._-".utf8.contains($0) })
        else {
            throw GearError(
                .invalidID,
                "invalid lease name '\(name.prefix(80).debugEscaped)': use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        }
    }
}
