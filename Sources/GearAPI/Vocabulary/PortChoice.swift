/// The one rule for choosing the external ports of an install, used by a node allocating them (`PortAllocator`) and
/// by a deploy that writes them itself because links need them before any node allocates (the etcd deploy):
///
/// - A fixed external port must be held by no other container and free on the host (`port_conflict`,
///   `port_in_use`).
/// - An internal port keeps the external port it had, while that is still free.
/// - Any other takes the lowest port of the range that no container holds and is free on the host
///   (`ports_exhausted` when none is left).
public struct PortChoice {
    /// The node's range.
    public var range: ClosedRange<Int>
    /// External ports other containers hold, with the holder.
    public var owners: [Int: String]
    /// Whether nothing outside the container being placed holds `port` on the host.
    public var hostPortIsFree: (Int) -> Bool
    /// What holds a port that is not free on the host, for the refusal's message (`nginx (pid 812)`), if known.
    public var hostHolder: (Int) -> String?

    public init(
        range: ClosedRange<Int>, owners: [Int: String], hostPortIsFree: @escaping (Int) -> Bool, hostHolder: @escaping (Int) -> String? = { _ in nil }
    ) {
        self.range = range
        self.owners = owners
        self.hostPortIsFree = hostPortIsFree
        self.hostHolder = hostHolder
    }

    /// The mappings of `requests` for `container`, which held `previous` before.
    public func resolve(_ requests: [PortRequest], for container: String, previous: [PortMapping]) throws(GearError) -> [PortMapping] {
        var chosen = Set<Int>()
        for request in requests {
            guard let port = request.externalPort else { continue }
            if let holder = owners[port], holder != container {
                throw GearError(.portConflict, "external port \(port) is already used by container \(holder)")
            }
            if !hostPortIsFree(port) {
                throw GearError(.portInUse, "external port \(port) is already in use on this host\(hostHolder(port).map { " by \($0)" } ?? "")")
            }
            chosen.insert(port)
        }
        var result: [PortMapping] = []
        var cursor = range.lowerBound
        for request in requests {
            if let port = request.externalPort {
                result.append(PortMapping(internal: request.internalPort, external: port))
                continue
            }
            if let kept = previous.first(where: { $0.internalPort == request.internalPort })?.externalPort,
                owners[kept] == nil || owners[kept] == container, !chosen.contains(kept), hostPortIsFree(kept)
            {
                chosen.insert(kept)
                result.append(PortMapping(internal: request.internalPort, external: kept))
                continue
            }
            var found: Int? = nil
            while cursor <= range.upperBound {
                let candidate = cursor
                cursor += 1
                if owners[candidate] != nil || chosen.contains(candidate) { continue }
                if hostPortIsFree(candidate) {
                    found = candidate
                    break
                }
            }
            guard let port = found else {
                throw GearError(
                    .portsExhausted, "no free port left in \(range.lowerBound)-\(range.upperBound) for internal port \(request.internalPort)")
            }
            chosen.insert(port)
            result.append(PortMapping(internal: request.internalPort, external: port))
        }
        return result
    }
}
