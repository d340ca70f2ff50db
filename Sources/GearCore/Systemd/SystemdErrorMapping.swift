import GearAPI
import SystemdBus

/// Turns errors from the systemd layer into the agent's `GearError`.
enum SystemdErrorMapping {
    static func gearError(_ error: any Error) -> GearError {
        if let error = error as? BusError {
            switch error.code {
            case .disconnected, .closed:
                return GearError(.systemdUnavailable, "systemd cannot be reached over D-Bus: \(error.message)")
            default:
                return GearError(.systemdError, "systemd: \(error)")
            }
        }
        return GearError(.internal, "\(error)")
    }
}
