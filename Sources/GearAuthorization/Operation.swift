/// What a request does, in the words of an access policy: `container.install`, `logs.read`, ... Each transport
/// names the operation of what it is asked (HTTP: `Operation.route`, by route, in GearHTTP) and asks the
/// `Authorizer`; something a transport names no operation for is refused to every caller but local ones.
public struct Operation: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let containerInstall = Operation(rawValue: "container.install")
    public static let containerDelete = Operation(rawValue: "container.delete")
    public static let containerStart = Operation(rawValue: "container.start")
    public static let containerStop = Operation(rawValue: "container.stop")
    public static let containerRestart = Operation(rawValue: "container.restart")
    public static let containerRead = Operation(rawValue: "container.read")
    public static let containerList = Operation(rawValue: "container.list")
    public static let logsRead = Operation(rawValue: "logs.read")
    public static let jobsRead = Operation(rawValue: "jobs.read")
    public static let nodeRead = Operation(rawValue: "node.read")
    public static let metricsRead = Operation(rawValue: "metrics.read")
    /// Reading files of a container's volumes (download, stat, listing).
    public static let filesRead = Operation(rawValue: "files.read")
    /// Writing files into a container's volumes (upload, delete).
    public static let filesWrite = Operation(rawValue: "files.write")
    /// Following the event stream (only the events of containers in scope, and the node's own).
    public static let eventsRead = Operation(rawValue: "events.read")
    /// Reading named environments (their values may be secrets: not part of `reads`).
    public static let environmentRead = Operation(rawValue: "environment.read")
    /// Creating, changing and removing named environments.
    public static let environmentWrite = Operation(rawValue: "environment.write")
    /// Listing the node's images.
    public static let imagesRead = Operation(rawValue: "images.read")
    /// Importing image archives into the node.
    public static let imagesWrite = Operation(rawValue: "images.write")

    /// Running a command inside a running container (`POST /container/{id}/exec`): admins only by default, as it
    /// reaches whatever the container reaches.
    public static let containerExec = Operation(rawValue: "container.exec")

    /// Running a program or image once (`POST /jobs`): admins only by default, as it runs what the caller asks.
    public static let jobsRun = Operation(rawValue: "jobs.run")
    /// Canceling a queued job, or a running run job (`DELETE /jobs/{id}`); scoped by the job's container (a run
    /// job has none: callers limited to some containers cannot cancel one).
    public static let jobsCancel = Operation(rawValue: "jobs.cancel")

    /// Every operation geard knows.
    public static let all: [Operation] = [
        .containerInstall, .containerDelete, .containerStart, .containerStop, .containerRestart, .containerRead, .containerList,
        .logsRead, .jobsRead, .nodeRead, .metricsRead, .filesRead, .filesWrite, .eventsRead, .environmentRead, .environmentWrite,
        .imagesRead, .imagesWrite, .containerExec, .jobsRun, .jobsCancel,
    ]

    /// Operations that only read.
    public static let reads: Set<Operation> = [
        .containerRead, .containerList, .logsRead, .jobsRead, .nodeRead, .metricsRead, .filesRead, .eventsRead, .imagesRead,
    ]

    /// The lifecycle of containers and the environments they are installed with (what `operator` adds to
    /// `reader`).
    public static let lifecycle: Set<Operation> = [
        .containerInstall, .containerDelete, .containerStart, .containerStop, .containerRestart, .environmentRead, .environmentWrite,
        .jobsCancel,
    ]

    /// Whether a grant's container patterns apply: the operation acts on one container or environment (whose id
    /// the patterns match alike), or lists them.
    public var isContainerScoped: Bool { ![.nodeRead, .metricsRead, .imagesRead, .imagesWrite, .jobsRun].contains(self) }
}
