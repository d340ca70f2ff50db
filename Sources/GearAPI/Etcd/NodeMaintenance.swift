public import Foundation

/// An operator's word about one node under `/gear/v1/maintenance/{node}` in etcd (`gear node cordon|drain`): the
/// orchestrator places nothing new on a cordoned node, and moves a draining node's instances off, a few at a time.
/// Deleting the key (`gear node uncordon`) ends either.
public struct NodeMaintenance: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable {
        /// Nothing new goes there; what runs stays.
        case cordon
        /// Nothing new goes there, and what runs is moved to other nodes.
        case drain

        /// The planner's reason for taking nothing new there.
        public var reason: String { self == .drain ? "draining" : "cordoned" }

        /// What an entry's value says: its mode, or a cordon when it is larger than 4 KiB or cannot be read (an
        /// operator meant something; placing there anyway would be the worse guess).
        public static func of(_ value: Data) -> Mode {
            guard value.count <= 4096 else { return .cordon }
            return (try? GearJSON.decoder().decode(NodeMaintenance.self, from: value))?.mode ?? .cordon
        }
    }

    public var mode: Mode
    /// Why, for people reading it (`gear node drain --reason`).
    public var reason: String?
    public var since: Date

    public init(mode: Mode, reason: String? = nil, since: Date = Date()) {
        self.mode = mode
        self.reason = reason
        self.since = since
    }
}
