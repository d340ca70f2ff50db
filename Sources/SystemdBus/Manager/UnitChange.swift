/// A change systemd announced for a unit (see `BusConnection.unitChanges`).
public enum UnitChange: Sendable {
    /// New values of the unit's state properties (only those that changed).
    case changed(unit: String, properties: [String: BusValue])
    /// The connection to systemd was re-established: changes in between were not seen.
    case reconnected
}
