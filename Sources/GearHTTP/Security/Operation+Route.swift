import GearAuthorization
import HTTPTypes

/// The operation of each HTTP route. Every route maps to exactly one; a route missing here is refused to
/// certificate callers (the middleware fails closed), and a unit test checks that every route of the router is here.
extension Operation {
    /// The operation of each route, by method and the router's path pattern.
    static let route: [String: Operation] = [
        "PUT /container/{id}": .containerInstall,
        "DELETE /container/{id}": .containerDelete,
        "PUT /container/{id}/started": .containerStart,
        "PUT /container/{id}/stopped": .containerStop,
        "POST /container/{id}/restart": .containerRestart,
        "POST /container/{id}/exec": .containerExec,
        "GET /container/{id}/exec": .containerExec,
        "GET /container/{id}/status": .containerRead,
        "GET /container/{id}/ports": .containerRead,
        "GET /containers": .containerList,
        // geard's purge (each container in scope deleted) and links (each container's definition changed).
        "DELETE /containers": .containerDelete,
        "POST /containers/links": .containerInstall,
        "GET /container/{id}/log": .logsRead,
        "GET /jobs": .jobsRead,
        "GET /jobs/{id}": .jobsRead,
        "GET /jobs/{id}/wait": .jobsRead,
        "POST /jobs": .jobsRun,
        "DELETE /jobs/{id}": .jobsCancel,
        "GET /jobs/{id}/log": .logsRead,
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
        // Leases guard deploys, which install: taking one needs what a deploy needs.
        "GET /lease/{name}": .nodeRead,
        "PUT /lease/{name}": .containerInstall,
        "DELETE /lease/{name}": .containerInstall,
    ]

    /// The operation of a matched route (HEAD reads like GET).
    static func of(method: HTTPRequest.Method, path: String) -> Operation? {
        let name = method == .head ? "GET" : method.rawValue
        return route["\(name) \(path)"]
    }
}
