import Foundation
import GearAPI
import GearCore

/// What the etcd transport keeps across restarts of geard, in `{state}/etcd.json` (written atomically): the lease it
/// holds (a quick restart keeps it, so the node's observed entries do not vanish), the environments it made (deleted
/// when their desired entries go, while ones made through the API are left alone), and the revision applied last.
struct TransportState: Codable, Sendable, Hashable {
    var node: String
    var lease: Int64 = 0
    var appliedRevision: Int64 = 0
    var environments: [String] = []

    static func path(_ layout: StateLayout) -> String { layout.root + "/etcd.json" }

    /// The state kept for `node`; a fresh one when there is none, or it was another node's.
    static func load(_ layout: StateLayout, node: String) -> TransportState {
        guard let data = FileManager.default.contents(atPath: path(layout)),
            let state = try? JSONDecoder().decode(TransportState.self, from: data), state.node == node
        else { return TransportState(node: node) }
        return state
    }

    func save(_ layout: StateLayout) throws(GearError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        try FileSystem.writeAtomically(Self.path(layout), data, mode: 0o600)
    }
}
