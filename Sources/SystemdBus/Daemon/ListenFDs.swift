internal import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A listening socket passed by systemd socket activation (`LISTEN_FDS`).
public struct ActivatedSocket: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case unix
        case tcp
    }

    /// The file descriptor, already bound and listening.
    public var fd: Int32
    public var kind: Kind
    /// The `FileDescriptorName=` systemd gave it.
    public var name: String

    /// The sockets passed to this process, and clears `LISTEN_FDS` so children do not inherit them.
    /// The corresponding C functions are `sd_listen_fds_with_names`, `sd_is_socket_unix` and `sd_is_socket_inet`.
    public static func fromEnvironment() -> [ActivatedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return [] }
        defer {
            if let names {
                for i in 0..<Int(count) { free(names[i]) }
                free(names)
            }
        }
        return (0..<count).compactMap { i in
            let fd = SD_LISTEN_FDS_START + i
            let name = names?[Int(i)].map { String(cString: $0) } ?? ""
            if sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 {
                return ActivatedSocket(fd: fd, kind: .unix, name: name)
            }
            if sd_is_socket_inet(fd, 0, Int32(SOCK_STREAM.rawValue), 1, 0) > 0 {
                return ActivatedSocket(fd: fd, kind: .tcp, name: name)
            }
            return nil
        }
    }
}
