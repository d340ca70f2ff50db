import GearAPI

/// What the etcd transport does when applying a desired entry fails.
enum FailureHandling: Sendable, Equatable {
    /// Try the same entry again later, with a growing delay: the cause may pass (a full queue, systemd away, a
    /// unit that failed, a port another container is about to let go, room another container is about to free).
    case retry
    /// Report it in the observed entry and wait for the entry to change: the same entry would fail the same way
    /// (it is invalid, not allowed, or names a port a host process holds, which the deploy moves off).
    case report
}

extension GearError.Code {
    /// How the etcd transport handles a failure with this code. A switch without `default`: a new code does not
    /// compile until it is decided here.
    var handling: FailureHandling {
        switch self {
        case .invalidID, .invalidRequest, .invalidRequestID, .forbidden, .notFound, .tooLarge, .digestMismatch, .rangeNotSatisfiable,
            .requestIDConflict, .portInUse:
            .report
        case .portConflict, .portsExhausted, .insufficientCapacity, .queueFull, .shuttingDown, .unitFailed, .unhealthy, .systemdUnavailable,
            .systemdError,
            .interrupted, .canceled, .diskFull, .conflict, .internal:
            .retry
        }
    }
}
