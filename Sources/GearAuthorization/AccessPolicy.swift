import Foundation
public import GearCertificates

/// Who may do what: roles (sets of operations) granted to certificate identities, each grant optionally limited
/// to container id patterns. With no policy file, a client certificate's OU names its role (`gear certs issue
/// client NAME --role operator`) over all containers; a policy file adds custom roles, scopes grants, and
/// overrides the OU: an identity that matches any grant gets exactly what its grants give.
public struct AccessPolicy: Sendable {
    /// Role name → operations.
    public var roles: [String: Set<Operation>]
    public var grants: [Grant]
    /// Whether an identity that matches no grant takes its role from its certificate's OU.
    public var roleFromOrganizationalUnit: Bool

    public struct Grant: Sendable, Equatable {
        public var identity: IdentityMatcher
        public var role: String
        public var containers: ContainerScope

        public init(identity: IdentityMatcher, role: String, containers: ContainerScope = .all) {
            self.identity = identity
            self.role = role
            self.containers = containers
        }
    }

    /// `admin` (everything), `operator` (reads and the container lifecycle, no file writes), `reader` (reads).
    public static let builtinRoles: [String: Set<Operation>] = [
        "admin": Set(Operation.all),
        "operator": Operation.reads.union(Operation.lifecycle),
        "reader": Operation.reads,
    ]

    /// The policy without a file: roles from OUs.
    public static let `default` = AccessPolicy(roles: builtinRoles, grants: [], roleFromOrganizationalUnit: true)

    public init(roles: [String: Set<Operation>] = builtinRoles, grants: [Grant], roleFromOrganizationalUnit: Bool = true) {
        self.roles = roles
        self.grants = grants
        self.roleFromOrganizationalUnit = roleFromOrganizationalUnit
    }

    /// What `identity` may do.
    public func access(for identity: PeerIdentity) -> Access {
        var entries: [Access.Entry] = []
        for grant in grants where grant.identity.matches(identity) {
            entries.append(.init(role: grant.role, operations: roles[grant.role] ?? [], containers: grant.containers))
        }
        if entries.isEmpty && roleFromOrganizationalUnit {
            for unit in identity.organizationalUnits {
                if let operations = roles[unit] { entries.append(.init(role: unit, operations: operations, containers: .all)) }
            }
        }
        return Access(entries: entries)
    }
}

/// What one identity may do: the union of its grants.
public struct Access: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var role: String
        public var operations: Set<Operation>
        public var containers: ContainerScope
    }

    public var entries: [Entry]
    /// When set (a delegation token), nothing is allowed beyond what these entries (the issuer's) allow.
    public var ceiling: [Entry]?

    public init(entries: [Entry], ceiling: [Entry]? = nil) {
        self.entries = entries
        self.ceiling = ceiling
    }

    /// The roles, for logs: `operator[tenant-a-*]`; a token's within its issuer's: `token[web-*] within operator`.
    public var roles: [String] {
        func names(_ entries: [Entry]) -> [String] { entries.map { $0.containers == .all ? $0.role : "\($0.role)[\($0.containers)]" } }
        guard let ceiling else { return names(entries) }
        return names(entries).map { "\($0) within \(ceiling.isEmpty ? "nothing" : names(ceiling).joined(separator: "+"))" }
    }

    /// The containers on which `operation` is allowed (empty when nowhere).
    public func scope(of operation: Operation) -> ContainerScope {
        func union(_ entries: [Entry]) -> ContainerScope {
            entries.filter { $0.operations.contains(operation) }.reduce(ContainerScope.none) { $0.union($1.containers) }
        }
        guard let ceiling else { return union(entries) }
        return union(entries).intersection(union(ceiling))
    }

    /// Whether `operation` is allowed on `container` (or, for operations on no container, at all).
    public func allows(_ operation: Operation, container: String?) -> Bool {
        let scope = scope(of: operation)
        guard let container, operation.isContainerScoped else { return !scope.isEmpty }
        return scope.contains(container)
    }
}

/// Matches identities: `cn:NAME`, `ou:NAME`, `dns:NAME`, `uri:URI`, `serial:HEX`, `fingerprint:HEX` (SHA-256 of
/// the certificate; colons allowed), `*` for any verified certificate, or `uid:N` for a unix socket user.
public struct IdentityMatcher: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case any = "*", cn, ou, dns, uri, serial, fingerprint, uid }
    public var kind: Kind
    public var value: String

    public init(parsing text: String) throws(PolicyError) {
        if text == "*" {
            self.kind = .any
            self.value = ""
            return
        }
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon]).lowercased()), kind != .any else {
            throw PolicyError("identity '\(text)' must be cn:, ou:, dns:, uri:, serial:, fingerprint: or uid: followed by a value, or *")
        }
        var value = String(text[text.index(after: colon)...])
        if kind == .serial || kind == .fingerprint {
            value = value.lowercased().filter { $0 != ":" }
            guard !value.isEmpty, value.allSatisfy(\.isHexDigit) else {
                throw PolicyError("identity '\(text)': \(kind.rawValue) must be hexadecimal")
            }
        }
        if kind == .uid { guard UInt32(value) != nil else { throw PolicyError("identity '\(text)': uid must be a number") } }
        guard !value.isEmpty else { throw PolicyError("identity '\(text)' has an empty value") }
        self.kind = kind
        self.value = value
    }

    public func matches(_ identity: PeerIdentity) -> Bool {
        switch kind {
        case .any: identity.unixUser == nil  // any certificate; unix users are named one by one
        case .uid: identity.unixUser.map(String.init) == value
        case .cn: identity.commonName == value
        case .ou: identity.organizationalUnits.contains(value)
        case .dns: identity.dnsNames.contains(value)
        case .uri: identity.uris.contains(value)
        case .serial: identity.unixUser == nil && identity.serial.drop { $0 == "0" } == value.drop { $0 == "0" }
        case .fingerprint: identity.fingerprint == value
        }
    }

    public var description: String { kind == .any ? "*" : "\(kind.rawValue):\(value)" }
}

/// A policy file could not be read.
public struct PolicyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
