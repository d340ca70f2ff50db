public import Foundation
public import GearAPI

/// What geard keeps on disk for one installed container: the validated spec, what was allocated for it, and
/// the desired state. The unit file and environment file are derived from it.
public struct ContainerDefinition: Sendable, Hashable, Codable {
    /// Format version of this record.
    public var version: Int = 1
    public var id: ContainerID
    public var spec: ContainerSpec
    /// The published ports with their external ports resolved.
    public var ports: [PortMapping]
    /// Desired state: should run now and after boot.
    public var started: Bool
    public var createdAt: Date
    public var updatedAt: Date
}
