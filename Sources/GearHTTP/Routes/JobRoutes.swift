import GearAPI
import GearAuthorization
import GearCore
import Hummingbird

/// `/jobs`: jobs and wait-for-job.
struct JobRoutes {
    let agent: NodeAgent

    func register(on router: Router<GearRequestContext>) {
        router.get("/jobs", use: list)
        router.get("/jobs/:id", use: job)
        router.get("/jobs/:id/wait", use: wait)
    }

    private func jobID(_ context: GearRequestContext) throws -> String {
        let raw = context.parameters.get("id") ?? ""
        return try GearCore.RequestID(raw).rawValue
    }

    @Sendable func list(_ request: Request, context: GearRequestContext) async throws -> Response {
        let container = try request.uri.queryParameters.get("container").map { raw throws in try ContainerID(raw) }
        var jobs = await agent.jobs(container: container)
        jobs = context.authorization.filter(jobs) { $0.container }
        return JSONResponse.make(JobList(jobs: jobs))
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
