public import GearAPI

/// One instance of a container of the deployment: `(container, index)`, index from 1.
public struct Slot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var container: String
    public var index: Int

    public init(_ container: String, _ index: Int) {
        self.container = container
        self.index = index
    }

    public static func < (a: Slot, b: Slot) -> Bool { (a.container, a.index) < (b.container, b.index) }
    public var description: String { "\(container)#\(index)" }
}

/// An address inside a linking container: a loopback address and a port.
public struct LinkAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public var description: String { "\(host):\(port)" }
}

/// A source container's link to one port of one target instance: where, inside the source, the target is reached.
public struct ResolvedLink: Sendable, Hashable {
    public var target: Slot
    /// The target's internal port.
    public var targetPort: Int
    public var alias: LinkAddress
}

/// geard's link semantics: each target instance's port gets one alias address, the same in every container that
/// links to it, reserved from a table the whole deployment shares. A link that matches ports (`MatchPort`, or an
/// alias port `External`) keeps the port and varies the address (127.0.0.1, 127.0.0.2, ...); otherwise the address
/// is 127.0.0.1 and the port varies from the target's internal port up. Links with matched ports are reserved
/// first, then self-links, then the rest, each group in the descriptor's order, so the same descriptor always gives
/// the same addresses (a redeploy keeps them).
public struct LinkResolution: Sendable {
    /// Per source container, its links in the descriptor's order: per link, per target instance, per port.
    public private(set) var links: [String: [ResolvedLink]] = [:]

    /// Most links one instance may have (geard's `NetworkLinks` limit).
    public static let maxLinksPerInstance = 64

    public init(_ descriptor: DeploymentDescriptor) throws(DeploymentError) {
        struct Candidate {
            var source: ContainerDescriptor
            var sourceIndex: Int
            var link: LinkDescriptor
            var linkIndex: Int
            var priority: Int
        }
        var candidates: [Candidate] = []
        for (s, source) in descriptor.containers.enumerated() {
            for (l, link) in source.links.enumerated() {
                let priority = (link.matchPort ? 4 : 0) + (link.to == source.name ? 1 : 0)
                candidates.append(Candidate(source: source, sourceIndex: s, link: link, linkIndex: l, priority: priority))
            }
        }
        let ordered = candidates.enumerated().sorted { a, b in
            a.element.priority != b.element.priority ? a.element.priority > b.element.priority : a.offset < b.offset
        }.map(\.element)
        var table = AliasTable()
        var reserved: [Key: LinkAddress] = [:]
        for candidate in ordered {
            let target = descriptor.container(named: candidate.link.to)!
            for pair in Self.aliasPorts(candidate.link, target: target) {
                for index in stride(from: 1, through: target.count, by: 1) {
                    let key = Key(slot: Slot(target.name, index), port: pair.internalPort)
                    if reserved[key] != nil { continue }
                    let external = pair.externalPort ?? 0
                    let same = candidate.link.matchPort || external != 0
                    reserved[key] = table.reserve(same: same, from: external != 0 ? external : pair.internalPort)
                }
            }
        }
        for source in descriptor.containers {
            var result: [ResolvedLink] = []
            for (l, link) in source.links.enumerated() {
                let target = descriptor.container(named: link.to)!
                for index in stride(from: 1, through: target.count, by: 1) {
                    for pair in Self.aliasPorts(link, target: target) {
                        let slot = Slot(target.name, index)
                        result.append(
                            ResolvedLink(target: slot, targetPort: pair.internalPort, alias: reserved[Key(slot: slot, port: pair.internalPort)]!))
                    }
                }
                if result.count > Self.maxLinksPerInstance {
                    let field = "Containers[\(descriptor.containers.firstIndex(of: source)!)].Links[\(l)]"
                    throw DeploymentError(
                        field: field,
                        "each instance of '\(source.name)' would have \(result.count) links (one per target instance and port); at most \(Self.maxLinksPerInstance)"
                    )
                }
            }
            links[source.name] = result
        }
    }

    /// The ports a link reaches: its `AliasPorts`, then its `Ports` not among them, or else all the target's public ports.
    static func aliasPorts(_ link: LinkDescriptor, target: ContainerDescriptor) -> [PortRequest] {
        var pairs = link.aliasPorts
        for port in link.ports where !pairs.contains(where: { $0.internalPort == port }) {
            pairs.append(PortRequest(internal: port))
        }
        return pairs.isEmpty ? target.publicPorts.map { PortRequest(internal: $0.internalPort) } : pairs
    }

    /// The variables a source container's instances receive for their links: for each target `DB`, `DB_HOST` and
    /// `DB_PORT` (its first instance, first port), `DB_ADDRS` (every instance, `host:port,...`), and with several ports
    /// `DB_ADDRS_<port>` per target port. Addresses are the aliases inside the container, so they stay the same
    /// wherever the targets run.
    public func variables(for source: ContainerDescriptor, in descriptor: DeploymentDescriptor) -> [EnvironmentVariable] {
        var result: [EnvironmentVariable] = []
        var done = Set<String>()
        let resolved = links[source.name] ?? []
        for link in source.links {
            let target = descriptor.container(named: link.to)!
            let prefix = LinkDescriptor.variablePrefix(target.name)
            guard done.insert(prefix).inserted else { continue }
            let ports = Self.aliasPorts(link, target: target).map(\.internalPort)
            func addresses(_ port: Int) -> [LinkAddress] {
                resolved.filter { $0.target.container == target.name && $0.targetPort == port }.sorted { $0.target < $1.target }.map(\.alias)
            }
            let first = addresses(ports[0])
            if let head = first.first {
                result.append(EnvironmentVariable(name: "\(prefix)_HOST", value: head.host))
                result.append(EnvironmentVariable(name: "\(prefix)_PORT", value: String(head.port)))
            }
            result.append(EnvironmentVariable(name: "\(prefix)_ADDRS", value: first.map(\.description).joined(separator: ",")))
            if ports.count > 1 {
                for port in ports {
                    result.append(
                        EnvironmentVariable(name: "\(prefix)_ADDRS_\(port)", value: addresses(port).map(\.description).joined(separator: ",")))
                }
            }
        }
        return result
    }

    struct Key: Hashable {
        var slot: Slot
        var port: Int
    }
}

/// Alias addresses already given out, and the next free one (geard's `InstancePortTable`, loopback only).
struct AliasTable {
    private var taken = Set<LinkAddress>()

    /// With `same`, the port stays `from` and the address counts up from 127.0.0.1 (x.y.z.254 is followed by
    /// x.y.z+1.1); otherwise the address is 127.0.0.1 and the port counts up from `from` (past 65535: from 40000).
    mutating func reserve(same: Bool, from: Int) -> LinkAddress {
        var octets = [127, 0, 0, 1]
        var port = from
        while taken.contains(LinkAddress(host: octets.map(String.init).joined(separator: "."), port: port)) {
            if same {
                octets[3] += 1
                if octets[3] == 255 {
                    octets[3] = 1
                    octets[2] += 1
                    if octets[2] == 256 {
                        octets[2] = 0
                        octets[1] += 1
                    }
                }
            } else {
                port = port >= 65535 ? 40000 : port + 1
            }
        }
        let address = LinkAddress(host: octets.map(String.init).joined(separator: "."), port: port)
        taken.insert(address)
        return address
    }
}
