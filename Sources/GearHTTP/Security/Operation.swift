import HTTPTypes

/// What a request does, in the words of an access policy: `container.install`, `logs.read`, ...
/// Every route maps to exactly one; a route missing from `Operation.route` is refused to certificate callers
/// (the middleware fails closed), and a unit test checks that every route of the router is here.
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

    /// Every operation geard knows.
    public static let all: [Operation] = [
        .containerInstall, .containerDelete, .containerStart, .containerStop, .containerRestart, .containerRead, .containerList,
        .logsRead, .jobsRead, .nodeRead, .metricsRead, .filesRead, .filesWrite, .eventsRead, .environmentRead, .environmentWrite,
        .imagesRead, .imagesWrite,
    ]

    /// Operations that only read.
    public static let reads: Set<Operation> = [
        .containerRead, .containerList, .logsRead, .jobsRead, .nodeRead, .metricsRead, .filesRead, .eventsRead, .imagesRead,
    ]

    /// The lifecycle of containers and the environments they are installed with (what `operator` adds to
    /// `reader`).
    public static let lifecycle: Set<Operation> = [
        .containerInstall, .containerDelete, .containerStart, .containerStop, .containerRestart, .environmentRead, .environmentWrite,
    ]

    /// Whether a grant's container patterns apply: the operation acts on one container or environment (whose id
    /// the patterns match alike), or lists them.
    public var isContainerScoped: Bool { ![.nodeRead, .metricsRead, .imagesRead, .imagesWrite].contains(self) }

    /// The operation of each route, by method and the router's path pattern.
    static let route: [String: Operation] = [
        "PUT /container/{id}": .containerInstall,
        "DELETE /container/{id}": .containerDelete,
        "PUT /container/{id}/started": .containerStart,
        "PUT /container/{id}/stopped": .containerStop,
        "POST /container/{id}/restart": .containerRestart,
        "GET /container/{id}/status": .containerRead,
        "GET /container/{id}/ports": .containerRead,
        "GET /containers": .containerList,
        "GET /container/{id}/log": .logsRead,
        "GET /jobs": .jobsRead,
        "GET /jobs/{id}": .jobsRead,
        "GET /jobs/{id}/wait": .jobsRead,
        "GET /node": .nodeRead,
        "GET /healthz": .nodeRead,
        "GET /readyz": .nodeRead,
        "GET /openapi.json": .nodeRead,
        "GET /metrics": .metricsRead,
        "GET /container/{id}/files/**": .filesRead,
        "PUT /container/{id}/files/**": .filesWrite,
        "DELETE /container/{id}/files/**": .filesWrite,
        "GET /container/{id}/archive": .filesRead,
        "PUT /container/{id}/archive": .filesWrite,
        "GET /events": .eventsRead,
        "GET /environments": .environmentRead,
        "GET /environment/{id}": .environmentRead,
        "PUT /environment/{id}": .environmentWrite,
        "PATCH /environment/{id}": .environmentWrite,
        "DELETE /environment/{id}": .environmentWrite,
        "GET /images": .imagesRead,
        "POST /images": .imagesWrite,
    ]

    /// The operation of a matched route (HEAD reads like GET).
    static func of(method: HTTPRequest.Method, path: String) -> Operation? {
        let name = method == .head ? "GET" : method.rawValue
        return route["\(name) \(path)"]
    }
}
