import Foundation
import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import Synchronization

/// How a mutating request is answered once its job is accepted: at once with `202 Accepted`, or, when the client
/// asked to wait (`Prefer: wait=N` or `?wait=N`), with the result as soon as the job ends within N seconds.
enum JobResponses {
    /// The longest wait a request may ask for.
    static let maxWait: Double = 600

    /// The wait a request asks for, in seconds; nil when it asks for none. A malformed value is a 400.
    static func requestedWait(_ request: Request) throws(GearError) -> Double? {
        if let query = request.uri.queryParameters.get("wait") {
            return try parseWait(query, from: "wait")
        }
        guard let prefer = request.headers[.prefer] else { return nil }
        for preference in prefer.split(separator: ",") {
            let parts = preference.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.first?.lowercased() == "wait", parts.count == 2 {
                return try parseWait(parts[1], from: "Prefer: wait")
            }
        }
        return nil
    }

    static func parseWait(_ text: String, from source: String) throws(GearError) -> Double {
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            throw GearError(.invalidRequest, "\(source) must be a number of seconds, not '\(text.prefix(40))'")
        }
        return min(seconds, maxWait)
    }

    /// Waits for a job on behalf of a request: a long-lived stream, counted against the caller's streams
    /// (`StreamLimitError` past them), that ends when geard shuts down, answering the job as it is then.
    static func wait(_ agent: NodeAgent, _ id: String, seconds: Double) async throws -> Job? {
        let ticket = try StreamAdmission.enter()
        let waited = WaitedJob()
        try await FollowShutdown.untilShutdown {
            let job = await agent.wait(id, timeout: .milliseconds(Int64(seconds * 1000)))
            waited.job.withLock { $0 = job }
        }
        withExtendedLifetime(ticket) {}
        if let job = waited.job.withLock({ $0 }) { return job }
        return await agent.job(id)
    }

    /// The answer for a submission, waiting for the job if the request asked to.
    static func respond(_ submission: NodeAgent.Submission, request: Request, agent: NodeAgent) async throws -> Response {
        var job = submission.job
        let wait = try requestedWait(request)
        if let wait, wait > 0, !job.state.isFinished {
            job = try await Self.wait(agent, job.id, seconds: wait) ?? job
        }
        var headers: HTTPFields = [.location: "/jobs/\(job.id)"]
        if !submission.ports.isEmpty {
            headers[HTTPField.Name(GearAPI.portMappingHeader)!] = submission.ports.map(\.headerForm).joined(separator: ",")
        }
        if let wait { headers[.preferenceApplied] = "wait=\(wait == wait.rounded() ? String(Int(wait)) : String(wait))" }
        return jobResponse(job, headers: headers)
    }

    /// A job as an answer: 200 when it succeeded, the error's status (with the job) when it failed, 202 while
    /// it is queued or running.
    static func jobResponse(_ job: Job, headers: HTTPFields = [:]) -> Response {
        switch job.state {
        case .succeeded:
            return JSONResponse.make(job, status: .ok, headers: headers)
        case .failed:
            let code = job.error?.error ?? GearError.Code.internal.rawValue
            let status = HTTPErrorMapping.status(forJobError: code)
            let body = APIError(error: code, message: job.error?.message ?? "the job failed", requestId: job.id, job: job)
            return JSONResponse.make(body, status: status, headers: headers)
        case .queued, .running:
            return JSONResponse.make(job, status: .accepted, headers: headers)
        }
    }
}

extension HTTPField.Name {
    static let prefer = HTTPField.Name("Prefer")!
    static let preferenceApplied = HTTPField.Name("Preference-Applied")!
}

/// What a wait found, handed out of the task that waited.
final class WaitedJob: Sendable {
    let job = Mutex<Job?>(nil)
}
