import GearAuthorization
import GearHTTP
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the HTTPS material and the access policy on SIGHUP. New connections get the new certificate and CAs;
/// live ones (log follows, waits) keep theirs. A file that fails to load leaves what is in force, and says why.
struct Reloader: Service {
    let tls: TLSContextStore?
    let policy: PolicyStore
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                reload()
            }
        }
    }

    private func reload() {
        do {
            try tls?.reload()
            try policy.reload()
            logger.notice("reloaded TLS material and access policy")
        } catch {
            logger.error("reload failed; the previous TLS material and policy stay in force", metadata: ["error": "\(error)"])
        }
    }
}
