import ArgumentParser
import Foundation
import GearAPI
import GearHTTP
import Logging
import SystemdBus

#if canImport(Glibc)
    import Glibc
#endif

/// Where geard listens: plain HTTP (loopback by default), HTTPS, the unix socket.
struct ListenerOptions: ParsableArguments {
    @Option(name: .long, help: "A TCP address to serve plain HTTP on, HOST:PORT; repeat for several; 'none' for none.")
    var listen: [String] = []

    @Option(
        name: .long,
        help:
            "A TCP address to serve HTTPS with client certificates on, HOST:PORT; repeat for several (default :\(GearAPI.defaultTLSPort) with --tls-cert)."
    )
    var https: [String] = []

    @Option(name: .long, help: "The unix socket to serve on; 'none' for none.")
    var socket: String = GearAPI.defaultSocketPath

    @Option(name: .customLong("socket-mode"), help: "The unix socket's mode, octal (root is admin; other users get what --policy grants uid:N).")
    var socketMode: String = "0600"

    @Option(name: .customLong("socket-group"), help: "The group that owns the unix socket (with --socket-mode 0660).")
    var socketGroup: String?

    func validate() throws {
        for address in listen where address != "none" {
            guard ListenAddress.parseTCP(address) != nil else { throw ValidationError("--listen must be HOST:PORT, not '\(address)'") }
        }
        for address in https {
            guard ListenAddress.parseTCP(address) != nil else { throw ValidationError("--https must be HOST:PORT, not '\(address)'") }
        }
        guard (UInt32(socketMode, radix: 8) ?? .max) <= 0o777 else { throw ValidationError("--socket-mode must be octal, like 0660") }
        if let socketGroup { guard Self.groupID(socketGroup) != nil else { throw ValidationError("no group \(socketGroup)") } }
    }

    /// What to listen on: the sockets systemd handed over (`LISTEN_FDS`), or those the flags name.
    func addresses(logger: Logger, tls: TLSContextStore?) -> [(ListenAddress, ListenerSecurity)] {
        let activated = ActivatedSocket.fromEnvironment()
        if !activated.isEmpty {
            return activated.map { socket in
                let security: ListenerSecurity = socket.name == "https" ? tls.map { .mutualTLS($0) } ?? .trusted : .trusted
                return (.activated(fd: socket.fd, name: socket.name), security)
            }.filter { address, security in
                // An "https" socket without TLS material is not served in the clear.
                if case .activated(_, "https") = address, case .trusted = security {
                    logger.error("socket 'https' given but no --tls-cert/--tls-key/--tls-ca: not serving it")
                    return false
                }
                return true
            }
        }
        var result: [(ListenAddress, ListenerSecurity)] = []
        if let tls {
            for text in https.isEmpty ? [":\(GearAPI.defaultTLSPort)"] : https {
                if let address = ListenAddress.parseTCP(text) { result.append((address, .mutualTLS(tls))) }
            }
        }
        let tcp = listen.isEmpty ? ["127.0.0.1:\(GearAPI.defaultPort)"] : listen
        for text in tcp where text != "none" {
            guard let address = ListenAddress.parseTCP(text) else { continue }
            if case .tcp(let host, _) = address, !["127.0.0.1", "::1", "localhost"].contains(host) {
                logger.warning(
                    "plain HTTP on a non-loopback address: anyone who reaches it controls this node", metadata: ["listen.address": "\(address)"])
            }
            result.append((address, .trusted))
        }
        if socket != "none" {
            let mode = UInt32(socketMode, radix: 8) ?? 0o600
            result.append((.unix(path: socket, mode: mode, group: socketGroup.flatMap(Self.groupID)), .trusted))
        }
        return result
    }

    /// A group's id, by name or number.
    static func groupID(_ name: String) -> UInt32? {
        if let number = UInt32(name) { return number }
        guard let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }
}
