/// SystemdBus: Swift over libsystemd's sd-bus (method calls, properties, signals, systemd jobs) and sd-daemon
/// (`sd_notify`, socket activation).
///
/// The only target besides SystemdJournal that touches C. It knows systemd's D-Bus API and nothing of
/// containers, HTTP or gear's state; no `OpaquePointer` leaves it.
public enum SystemdBusModule {}
