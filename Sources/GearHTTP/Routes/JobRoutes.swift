import Foundation
import GearAPI
import GearAuthorization
import GearCore
import Hummingbird

/// `/jobs`: jobs and wait-for-job.
struct JobRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/jobs", .jobsRead, use: list)
        routes.on(.post, "/jobs", .jobsRun, use: run)
        routes.on(.get, "/jobs/{id}", .jobsRead, use: job)
        routes.on(.delete, "/jobs/{id}", .jobsCancel, use: cancel)
        routes.on(.get, "/jobs/{id}/wait", .jobsRead, use: wait)
        routes.on(.get, "/jobs/{id}/log", .logsRead, use: log)
    }

    private func jobID(_ context: GearRequestContext) throws -> String {
        let raw = context.pathParameter("id")
        return try GearRequestID(raw).rawValue
    }

    @Sendable func list(_ request: Request, context: GearRequestContext) async throws -> Response {
        let container = try request.uri.queryParameters.get("container").map { raw throws in try ContainerID(raw) }
        var jobs = await agent.jobs(container: container)
        jobs = context.authorization.filter(jobs) { $0.container }
        return JSONResponse.make(JobList(jobs: jobs))
    }

    /// Runs a program or image once (`POST /jobs`): a job like every other (`?wait=`, `Prefer: wait`, request ids),
    /// whose output is at `/jobs/{id}/log`. geard's client gets the run's output as it comes instead (geard's
    /// `RunContainerRequest` streamed it), answered once the run ended.
    @Sendable func run(_ request: Request, context: GearRequestContext) async throws -> Response {
        _ = try JobResponses.requestedWait(request)
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else {
            throw GearError(.invalidRequest, "a JSON body is required, e.g. {\"Runtime\":\"exec\",\"Cmd\":[\"/bin/echo\",\"hello\"]}")
        }
        let spec = try GearJSON.decoder().decode(RunRequest.self, from: Data(body.readableBytesView))
        if let environment = spec.environmentID { try context.authorization.permit(environment: environment) }
        let submission = try await agent.run(spec, requestID: context.requestID)
        if context.geard {
            let id = submission.job.id
            var response = try await LogRoutes.serve(request, context: context, forceFollow: true) { query, fields in
                try await agent.runLog(id, query: query, fields: fields)
            }
            response.status = .accepted
            response.headers[.location] = "/jobs/\(id)"
            return response
        }
        return try await JobResponses.respond(submission, request: request, agent: agent)
    }

    /// Cancels a queued job, or a running run job (`DELETE /jobs/{id}`): answers the job (200), or 409 when it
    /// finished already or is a running lifecycle job.
    @Sendable func cancel(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try jobID(context)
        guard let known = await agent.job(id), context.authorization.allows(container: known.container) else {
            throw GearError(.notFound, "no job \(id)")
        }
        return JSONResponse.make(try await agent.cancel(id))
    }

    /// A run job's output (`GET /jobs/{id}/log`), as a container's log is served; a follow ends with the run.
    @Sendable func log(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try jobID(context)
        guard let known = await agent.job(id), context.authorization.allows(container: known.container) else {
            throw GearError(.notFound, "no job \(id)")
        }
        return try await LogRoutes.serve(request, context: context) { query, fields in try await agent.runLog(id, query: query, fields: fields) }
    }

    /// The job as it is now; 200 whatever its state (the request for the job succeeded).
    @Sendable func job(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try jobID(context)
        guard let job = await agent.job(id), context.authorization.allows(container: job.container) else {
            throw GearError(.notFound, "no job \(id)")
        }
        return JSONResponse.make(job)
    }

    /// Waits up to `timeout` seconds (default 30, at most 600) for the job to end: answers like the request that
    /// made it would have with `Prefer: wait` (200, an error status, or 202 when the time ran out).
    @Sendable func wait(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try jobID(context)
        let timeout = try QueryFlags.seconds(request, "timeout", default: 30, range: 0...JobResponses.maxWait)
        // A caller limited to some containers waits only on their jobs; others look unknown (checked before waiting,
        // so that waiting on another tenant's job cannot tell it exists).
        if context.authorization.isRestricted {
            guard let known = await agent.job(id)?.container, context.authorization.allows(container: known) else {
                throw GearError(.notFound, "no job \(id)")
            }
        }
        guard let job = try await JobResponses.wait(agent, id, seconds: timeout) else {
            throw GearError(.notFound, "no job \(id)")
        }
        return JobResponses.jobResponse(job, headers: [.location: "/jobs/\(job.id)"])
    }
}
