/// The etcd roles of gear's pull model: what each node and an orchestrator may read and write.
public enum EtcdRoles {
    /// The role of one node.
    public static func node(_ name: String) -> String { "gear-node-\(name)" }

    /// A node reads its desired state and writes (and reads back, to tidy) its observed state; nothing else.
    public static func nodeGrants(_ name: String) throws(EtcdError) -> [EtcdGrant] {
        let keys = try GearKeys(node: name)
        return [EtcdGrant(.read, prefix: keys.desiredPrefix), EtcdGrant(.readwrite, prefix: keys.observedPrefix)]
    }

    /// The role of gear-orchestrator replicas: they write every node's desired state, the deployments' status and
    /// the leader key, and read everything of gear's (the orchestrator watches all of `/gear/v1/` in one watch, which
    /// needs the read of the whole prefix). They do not write deployments or maintenance entries: people do.
    public static let orchestrator = "gear-orchestrator"

    public static let orchestratorGrants = [
        EtcdGrant(.readwrite, prefix: GearKeys.desiredRoot), EtcdGrant(.readwrite, prefix: GearKeys.deploymentStatusRoot),
        EtcdGrant(.readwrite, prefix: GearKeys.orchestratorRoot), EtcdGrant(.read, prefix: GearKeys.root),
    ]

    /// The role of operators (`gear deploy --etcd`, `gear node cordon|uncordon|drain`, `gear status --etcd`): they
    /// write deployments and maintenance entries and read everything of gear's; where instances go, only the
    /// orchestrator writes (users control topology, the orchestrator placement).
    public static let `operator` = "gear-operator"

    public static let operatorGrants = [
        EtcdGrant(.readwrite, prefix: GearKeys.deploymentsRoot), EtcdGrant(.readwrite, prefix: GearKeys.maintenanceRoot),
        EtcdGrant(.read, prefix: GearKeys.root),
    ]
}
