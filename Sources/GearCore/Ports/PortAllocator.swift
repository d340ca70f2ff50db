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

    /// Resolves `specs` for `container` by the one rule of `PortChoice`.
    /// - Parameters:
    ///   - owners: external ports held by other containers (definitions and accepted installs), with the holder.
    ///   - previous: what `container` holds now; an internal port keeps its external port across re-installs.
    public func resolve(
        _ specs: [PortSpec], for container: ContainerID, owners: [Int: ContainerID], previous: [PortMapping]
    ) throws(GearError) -> [PortMapping] {
        // The container's own ports are held by it (its podman process listens there): free for it.
        let ours = Set(previous.map(\.externalPort))
        let hostPortIsFree = self.hostPortIsFree
        let choice = PortChoice(
            range: range, owners: owners.mapValues(\.rawValue), hostPortIsFree: { ours.contains($0) || hostPortIsFree($0) },
            hostHolder: { port in
                HostListeners.forget()
                return HostListeners.holder(of: port)
            })
        return try choice.resolve(
            specs.map { PortRequest(internal: $0.internalPort, external: $0.externalPort) }, for: container.rawValue, previous: previous)
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
