import GearAuthorization
import GearCertificates
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

extension HTTPListener {
    /// The caller on a unix socket, by its peer credentials (`SO_PEERCRED`, taken by the kernel at connect): root
    /// is local and may do everything; any other user is an identity `uid:N` that the access policy may grant a
    /// role (`{"identity": "uid:1000", "role": "reader"}`), and that may do nothing otherwise.
    func peerCaller(_ channel: any Channel) -> EventLoopFuture<Caller> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(.unauthenticated)
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let listener = address.description
        return future.map { (credentials: PeerCredentials) -> Caller in
            credentials.uid == 0
                ? .local(listener: listener)
                : .certificate(PeerIdentity(unixUser: credentials.uid, group: credentials.gid, process: credentials.pid))
        }.recover { _ in Caller.unauthenticated }
    }
}

/// `struct ucred` of `<sys/socket.h>` (pid_t, uid_t, gid_t), which the Glibc module leaves out without _GNU_SOURCE.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
