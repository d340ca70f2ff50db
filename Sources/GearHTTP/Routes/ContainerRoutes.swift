import Foundation
import GearAPI
import GearAuthorization
import GearCore
import Hummingbird
import NIOCore

/// `/container/{id}...` and `/containers`: geard's paths for the container lifecycle.
struct ContainerRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.put, "/container/{id}", .containerInstall, target: .container, use: install)
        routes.on(.delete, "/container/{id}", .containerDelete, target: .container, use: delete)
        routes.on(.put, "/container/{id}/started", .containerStart, target: .container, use: start)
        routes.on(.put, "/container/{id}/stopped", .containerStop, target: .container, use: stop)
        routes.on(.post, "/container/{id}/restart", .containerRestart, target: .container, use: restart)
        routes.on(.get, "/container/{id}/status", .containerRead, target: .container, use: status)
        routes.on(.get, "/container/{id}/ports", .containerRead, target: .container, use: ports)
        routes.on(.get, "/containers", .containerList, use: list)
        routes.on(.delete, "/containers", .containerDelete, use: purge)
        routes.on(.post, "/containers/links", .containerInstall, use: links)
    }

    private func containerID(_ context: GearRequestContext) throws -> ContainerID {
        try ContainerID(context.pathParameter("id"))
    }

    @Sendable func install(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try containerID(context)
        _ = try JobResponses.requestedWait(request)
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else {
            throw GearError(.invalidRequest, "a JSON body is required, e.g. {\"Image\":\"localhost/busybox\",\"Started\":true}")
        }
        let spec = try GearJSON.decoder().decode(InstallRequest.self, from: Data(body.readableBytesView))
        if let environment = spec.environmentID { try context.authorization.permit(environment: environment) }
        // geard's client expects geard's install: a running container is not stopped or restarted by it.
        let submission = try await agent.install(id, spec, requestID: context.requestID, keepRunning: context.geard)
        if context.geard {
            let started = spec.started == true
            return try await GeardDialect.answer(submission, request: request, agent: agent) {
                "Container \($0) is \(started ? "starting" : "installed")"
            }
        }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    @Sendable func delete(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try containerID(context)
        _ = try JobResponses.requestedWait(request)
        let submission = try await agent.delete(id, requestID: context.requestID)
        if context.geard { return try await GeardDialect.answer(submission, request: request, agent: agent, text: nil) }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    @Sendable func start(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try containerID(context)
        _ = try JobResponses.requestedWait(request)
        let submission = try await agent.start(id, requestID: context.requestID)
        if context.geard { return try await GeardDialect.answer(submission, request: request, agent: agent) { "Container \($0) starting" } }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    @Sendable func stop(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try containerID(context)
        _ = try JobResponses.requestedWait(request)
        let submission = try await agent.stop(id, requestID: context.requestID)
        if context.geard { return try await GeardDialect.answer(submission, request: request, agent: agent) { "Container \($0) is stopped" } }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    @Sendable func restart(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try containerID(context)
        _ = try JobResponses.requestedWait(request)
        let submission = try await agent.restart(id, requestID: context.requestID)
        if context.geard { return try await GeardDialect.answer(submission, request: request, agent: agent) { "Container \($0) restarting" } }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    @Sendable func status(_ request: Request, context: GearRequestContext) async throws -> Response {
        let snapshot = try await agent.statusSnapshot(try containerID(context))
        if context.geard {
            let log = await agent.recentLog(try containerID(context), lines: 10)
            return JSONResponse.text(GeardDialect.status(snapshot.status, log: log), status: .accepted)
        }
        if JSONResponse.wantsText(request) { return JSONResponse.text(TextRendering.status(snapshot.status)) }
        return JSONResponse.json(parts: [snapshot.json])
    }

    @Sendable func ports(_ request: Request, context: GearRequestContext) async throws -> Response {
        let ports = try agent.ports(try containerID(context))
        return JSONResponse.wantsText(request) ? JSONResponse.text(TextRendering.ports(ports)) : JSONResponse.make(PortList(ports: ports))
    }

    @Sendable func list(_ request: Request, context: GearRequestContext) async throws -> Response {
        let all = try QueryFlags.bool(request, "all") ?? false
        let snapshot = try await agent.listSnapshot()
        if context.geard { return GeardDialect.list(context.authorization.filter(snapshot.containers.map(\.status)) { $0.id }) }
        let scoped = context.authorization.isRestricted
        // A caller limited to some containers sees only those, and no orphan units.
        let orphans = all && !scoped ? try await agent.orphanUnits() : nil
        if !scoped, orphans == nil, !JSONResponse.wantsText(request) { return JSONResponse.json(parts: [snapshot.json]) }
        var containers = snapshot.containers
        containers = context.authorization.filter(containers) { $0.status.id }
        if JSONResponse.wantsText(request) {
            return JSONResponse.text(TextRendering.list(ContainerList(containers: containers.map(\.status), orphanUnits: orphans)))
        }
        // The list as `ContainerList` encodes, from the statuses' own JSON.
        var tail = JSONWriter(capacity: 64)
        tail.raw("]")
        if let orphans {
            tail.raw(",")
            tail.key("orphanUnits")
            tail.beginArray()
            for unit in orphans { tail.string(unit) }
            tail.endArray()
        }
        tail.raw("}")
        return JSONResponse.json(parts: [Array(#"{"containers":["#.utf8)] + Self.joined(containers.map(\.json)) + [tail.bytes])
    }

    /// `DELETE /containers`, geard's purge: deletes every container the caller may delete (each a job, as `DELETE
    /// /container/{id}`). geard's dialect answers 204 once all are gone; gear's the jobs (202, or 200 with `?wait`).
    @Sendable func purge(_ request: Request, context: GearRequestContext) async throws -> Response {
        let wait = try JobResponses.requestedWait(request)
        let ids = context.authorization.filter(agent.installedIDs()) { $0.rawValue }
        var submissions: [NodeAgent.Submission] = []
        for id in ids {
            submissions.append(try await agent.delete(id, requestID: context.clientRequestID ? context.requestID.derived(for: id.rawValue) : nil))
        }
        if context.geard { return try await GeardDialect.answerAll(submissions, request: request, agent: agent) }
        return try await Self.jobs(submissions, wait: wait, agent: agent)
    }

    /// `POST /containers/links`, geard's links: `{"Links":[{"Id":..,"NetworkLinks":[..]}]}` sets each container's
    /// links (a job each). A container in the body the caller may not install is refused before any job.
    @Sendable func links(_ request: Request, context: GearRequestContext) async throws -> Response {
        let wait = try JobResponses.requestedWait(request)
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else {
            throw GearError(.invalidRequest, "a JSON body is required: {\"Links\":[{\"Id\":..,\"NetworkLinks\":[..]}]}")
        }
        let links = try GearJSON.decoder().decode(ContainerLinks.self, from: Data(body.readableBytesView))
        guard !links.links.isEmpty else { throw GearError(.invalidRequest, "One or more links must be specified.") }
        var changes: [(ContainerID, [LinkSpec])] = []
        for (i, link) in links.links.enumerated() {
            let id = try ContainerID(link.id)
            try context.authorization.permit(container: id.rawValue)
            changes.append((id, try ContainerSpec.validateLinks(link.networkLinks, field: "Links[\(i)].NetworkLinks")))
        }
        var submissions: [NodeAgent.Submission] = []
        for (id, specs) in changes {
            // One job per container; a retry of the request (the same id) names the same jobs.
            let requestID = changes.count == 1 ? context.requestID : context.requestID.derived(for: id.rawValue)
            submissions.append(try await agent.setLinks(id, specs, requestID: requestID))
        }
        if context.geard { return try await GeardDialect.answerAll(submissions, request: request, agent: agent) }
        return try await Self.jobs(submissions, wait: wait, agent: agent)
    }

    /// Several jobs: 202 with them, or, when the request waits, 200 once all ended.
    private static func jobs(_ submissions: [NodeAgent.Submission], wait: Double?, agent: NodeAgent) async throws -> Response {
        var jobs = submissions.map(\.job)
        if let wait, wait > 0 {
            for (i, job) in jobs.enumerated() where !job.state.isFinished {
                jobs[i] = try await JobResponses.wait(agent, job.id, seconds: wait) ?? job
            }
        }
        let done = jobs.allSatisfy(\.state.isFinished)
        return JSONResponse.make(JobList(jobs: jobs), status: done && wait != nil ? .ok : .accepted)
    }

    /// The parts with a comma between each two.
    private static func joined(_ parts: [[UInt8]]) -> [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(parts.count * 2)
        for (i, part) in parts.enumerated() {
            if i > 0 { result.append(Self.comma) }
            result.append(part)
        }
        return result
    }

    private static let comma: [UInt8] = [UInt8(ascii: ",")]
}

/// Query parameter parsing with clear errors.
enum QueryFlags {
    /// `1`, `true`, `yes` or an empty value are true; `0`, `false`, `no` false; anything else is a 400.
    static func bool(_ request: Request, _ name: String) throws(GearError) -> Bool? {
        guard let value = request.uri.queryParameters.get(name) else { return nil }
        switch value.lowercased() {
        case "", "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw GearError(.invalidRequest, "query parameter \(name) must be 1 or 0, not '\(value.prefix(40))'")
        }
    }

    /// A number of seconds within `range`.
    static func seconds(_ request: Request, _ name: String, default value: Double, range: ClosedRange<Double>) throws(GearError) -> Double {
        guard let text = request.uri.queryParameters.get(name) else { return value }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            throw GearError(.invalidRequest, "query parameter \(name) must be a number of seconds, not '\(text.prefix(40))'")
        }
        return min(max(seconds, range.lowerBound), range.upperBound)
    }
}
