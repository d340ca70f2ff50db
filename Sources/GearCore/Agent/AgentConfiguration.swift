import GearAPI

/// How a `NodeAgent` is set up; every field has a default that suits one geard per host.
public struct AgentConfiguration: Sendable {
    /// Where state lives, and systemd's configuration directory.
    public var layout: StateLayout
    /// External ports allocated for `External: 0`.
    public var portRange: ClosedRange<Int> = 4000...4999
    /// The podman binary units run.
    public var podmanPath: String = "/usr/bin/podman"
    /// Jobs running at once (on different containers; one container's jobs always run one at a time).
    public var maxRunningJobs = 32
    /// Run jobs (`POST /jobs`) running at once, apart from the other jobs.
    public var maxRunningRuns = 64
    /// Jobs accepted but not yet running; beyond this, submissions are refused with `.queueFull`.
    public var maxQueuedJobs = 1024
    /// How long finished jobs are kept, and how many at most.
    public var jobRetention: Duration = .seconds(24 * 3600)
    public var maxRetainedJobs = 10_000
    /// How many events the history keeps (in memory, and at least as many on disk).
    public var eventHistory = 10_000
    /// One reload for a burst of unit changes (true), or one per change (false, the naive baseline).
    public var coalesceReloads = true
    /// How long a shutdown waits for running jobs.
    public var shutdownGrace: Duration = .seconds(30)
    /// Limits on file uploads into volumes.
    public var fileLimits = FileLimits()
    /// Host directories whose subtrees installs may mount into containers (geard's `VolumeMounts`); none by default.
    public var allowedHostPaths: [String] = []
    /// The node's labels (`zone=a`), shown in `/node` for placement rules to match.
    public var labels: [String: String] = [:]
    /// A network namespace (`/run/netns/NAME`) the containers' units run in, so that several geards on one machine
    /// each have a network of their own (test hosts); nil: the host's network.
    public var networkNamespace: String?
    /// Says whether a host TCP port is free; replaced in unit tests.
    public var hostPortIsFree: @Sendable (Int) -> Bool = PortAllocator.canBind

    /// Why `path` cannot be an allowed host path (nil when it can): it must be an absolute, existing directory other
    /// than `/`, reached without symlinks, as a bind's host path is checked against it.
    public static func problem(withAllowedHostPath path: String) -> String? {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard trimmed.hasPrefix("/"), trimmed != "/", !trimmed.split(separator: "/").contains("..") else {
            return "must be an absolute directory other than /"
        }
        guard FileSystem.resolvedDirectory(trimmed) == trimmed else { return "must be an existing directory reached without symlinks" }
        return nil
    }

    /// Why `text` is not a node label `KEY=VALUE` (nil when it is): the rules of container labels.
    public static func problem(withLabel text: String) -> String? {
        guard let (key, value) = KeyValue.split(text) else { return "must be KEY=VALUE" }
        do {
            _ = try ContainerSpec.validateLabels([key: value])
            return nil
        } catch {
            return error.message
        }
    }

    public init(layout: StateLayout) {
        self.layout = layout
    }
}
