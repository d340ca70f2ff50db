internal import CSystemd

/// Talks to the service manager that started this process (`sd_notify`), when there is one.
public struct ServiceNotifier: Sendable {
    public init() {}

    /// Sends `state` (e.g. `READY=1`); returns false when not run by systemd with a notify socket.
    /// The corresponding C function is `sd_notify`.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// `READY=1` with a status line.
    @discardableResult
    public func ready(status: String) -> Bool { notify("READY=1\nSTATUS=\(status)") }

    /// `STOPPING=1`.
    @discardableResult
    public func stopping() -> Bool { notify("STOPPING=1") }

    /// `WATCHDOG=1`.
    @discardableResult
    public func watchdog() -> Bool { notify("WATCHDOG=1") }

    /// The watchdog interval systemd expects pings within, if it enabled the watchdog for us.
    /// The corresponding C function is `sd_watchdog_enabled`.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }
}
