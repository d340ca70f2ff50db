public import GearAPI
import GearSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Resolves the published ports of an install: checks explicit external ports and allocates the rest from the
/// configured range, skipping ports other containers hold and ports some other process on the host listens on.
///
/// It keeps no state of its own: what is taken is derived from the definitions (and the installs accepted but
/// not yet applied), so it is right again after a restart.
public struct PortAllocator: Sendable {
    public var range: ClosedRange<Int>
    /// Says whether nothing on the host listens on a TCP port; replaced in unit tests.
    public var hostPortIsFree: @Sendable (Int) -> Bool

    public init(range: ClosedRange<Int>, hostPortIsFree: @escaping @Sendable (Int) -> Bool = PortAllocator.canBind) {
        self.range = range
        self.hostPortIsFree = hostPortIsFree
    }

    /// Resolves `specs` for `container`.
    /// - Parameters:
    ///   - owners: external ports held by other containers (definitions and accepted installs), with the holder.
    ///   - previous: what `container` holds now; an internal port keeps its external port across re-installs.
    public func resolve(
        _ specs: [PortSpec], for container: ContainerID, owners: [Int: ContainerID], previous: [PortMapping]
    ) throws(GearError) -> [PortMapping] {
        let ours = Set(previous.map(\.externalPort))
        var chosen = Set<Int>()
        var result: [PortMapping] = []
        for spec in specs where spec.externalPort != nil {
            let port = spec.externalPort!
            if let holder = owners[port], holder != container {
                throw GearError(.portConflict, "external port \(port) is already used by container \(holder)")
            }
            if !ours.contains(port), !hostPortIsFree(port) {
                throw GearError(.portConflict, "external port \(port) is already in use on this host")
            }
            chosen.insert(port)
        }
        var cursor = range.lowerBound
        for spec in specs {
            if let port = spec.externalPort {
                result.append(PortMapping(internal: spec.internalPort, external: port))
                continue
            }
            if let kept = previous.first(where: { $0.internalPort == spec.internalPort })?.externalPort,
                owners[kept] == nil || owners[kept] == container, !chosen.contains(kept)
            {
                chosen.insert(kept)
                result.append(PortMapping(internal: spec.internalPort, external: kept))
                continue
            }
            var found: Int? = nil
            while cursor <= range.upperBound {
                let candidate = cursor
                cursor += 1
                if owners[candidate] != nil || chosen.contains(candidate) { continue }
                if ours.contains(candidate) || hostPortIsFree(candidate) {
                    found = candidate
                    break
                }
            }
            guard let port = found else {
                throw GearError(
                    .portsExhausted, "no free port left in \(range.lowerBound)-\(range.upperBound) for internal port \(spec.internalPort)")
            }
            chosen.insert(port)
            result.append(PortMapping(internal: spec.internalPort, external: port))
        }
        return result
    }

    /// True when a TCP socket can bind `port` on all addresses, i.e. no other process listens there.
    public static func canBind(_ port: Int) -> Bool {
        let opened = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard opened >= 0 else { return false }
        let socket = OwnedDescriptor(owning: opened)
        let fd = socket.raw
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return r == 0
    }
}
