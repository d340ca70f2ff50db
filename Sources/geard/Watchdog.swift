import GearCore
import Logging
import ServiceLifecycle
import SystemdBus

/// Pings systemd's watchdog while geard can still reach systemd: a geard whose bus is wedged stops pinging and
/// is restarted by systemd (`WatchdogSec=` in geard.service).
struct Watchdog: Service {
    let interval: Duration
    let systemd: any SystemdControl
    let notifier: ServiceNotifier
    let logger: Logger

    func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await systemd.ping()
                    notifier.watchdog()
                } catch {
                    logger.warning("systemd did not answer the watchdog ping", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval / 2)
            }
        }
    }
}
