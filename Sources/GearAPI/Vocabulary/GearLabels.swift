/// Labels gear deploy keeps on every instance: how a later deploy (push, etcd, or the orchestrator) finds what runs
/// where.
public enum DeploymentLabel {
    /// The deployment's name.
    public static let deployment = "gear.deployment"
    /// The container of the descriptor the instance is of.
    public static let container = "gear.deployment.container"
    /// The instance's number among its container's, from 1.
    public static let index = "gear.deployment.index"
    /// The `SpecDigest` of what the instance runs (its install body but links and the desired state): a redeploy
    /// replaces an instance whose digest differs.
    public static let spec = "gear.deployment.spec"
    /// How many deploys of the deployment had changed something when this instance was last installed.
    public static let generation = "gear.deployment.generation"
    /// Labels under this prefix are gear's: a descriptor or a desired entry may not set them.
    public static let reservedPrefix = "gear."
}

/// Labels a node following etcd puts on the containers it installs from its desired state.
public enum EtcdLabel {
    /// The node whose desired state the container comes from: a container with it is etcd's, and the node deletes it
    /// when its desired entry goes.
    public static let node = "gear.etcd.node"
    /// The `SpecDigest` of the desired entry: the node replaces the container when the entry's digest differs.
    public static let spec = "gear.etcd.spec"
    /// Labels under this prefix are the node's own: a desired entry may not set them.
    public static let reservedPrefix = "gear.etcd."
}
