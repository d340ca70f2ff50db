import Foundation
import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import NIOCore

/// geard's own wire protocol, for a request that says it is geard's (`X-Api-Version: 1`, which openshift/geard's
/// client sends with every request): the statuses, text bodies, headers and error bodies that client reads. Without
/// the header a request gets gear's JSON API; the paths, request bodies and jobs are the same either way.
///
/// What geard's client accepts, and so what is answered here:
/// - `202` with a text body (never `application/json`, which it refuses to read as a stream) for install, start,
///   stop, restart, status and `GET /environment/{id}`; install also with `X-PortMapping: 8080:4000,...`;
/// - `204` for delete, `PUT`/`PATCH /environment/{id}`, links and purge;
/// - `200` with `Content-Type: application/json` exactly for lists;
/// - errors as `{"Message": ..., "Error": code}` with `Content-Type: application/json` and the status gear gives
///   the error.
///
/// geard answered a job once it had run: so does this dialect (up to `?wait=N`, default 300 s; a job still running
/// then is answered 202 with its id in the text).
enum GeardDialect {
    static let versionHeader = HTTPField.Name("X-Api-Version")!

    /// Refuses a request that names a version other than geard's 1.
    static func checkVersion(_ request: Request) throws(GearError) {
        guard let version = request.headers[versionHeader] else { return }
        guard version.trimmingCharacters(in: .whitespaces) == "1" else {
            throw GearError(
                .invalidRequest,
                "X-Api-Version '\(String(version.prefix(20).unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }))' is not served: 1 is geard's protocol; without the header, gear's JSON API"
            )
        }
    }

    /// How long a job is waited for when the request names no wait.
    static let defaultWait: Double = 300

    /// The job of a submission, waited for.
    static func finished(_ submission: NodeAgent.Submission, request: Request, agent: NodeAgent) async throws -> Job {
        let wait = try JobResponses.requestedWait(request) ?? defaultWait
        guard !submission.job.state.isFinished, wait > 0 else { return submission.job }
        return try await JobResponses.wait(agent, submission.job.id, seconds: wait) ?? submission.job
    }

    /// geard's answer to a lifecycle job: `text` of the container (202) when it succeeded, or 204 without one;
    /// the failure when it failed.
    static func answer(
        _ submission: NodeAgent.Submission, request: Request, agent: NodeAgent, text: ((String) -> String)?
    ) async throws -> Response {
        let job = try await finished(submission, request: request, agent: agent)
        switch job.state {
        case .succeeded:
            guard let text else { return Response(status: .noContent) }
            var response = JSONResponse.text(text(job.container), status: .accepted)
            if !submission.ports.isEmpty {
                response.headers[HTTPField.Name(GearAPI.portMappingHeader)!] = submission.ports.map(\.headerForm).joined(separator: ",")
            }
            return response
        case .failed:
            let code = job.error?.error ?? GearError.Code.internal.rawValue
            return failure(HTTPErrorMapping.status(forJobError: code), code: code, message: job.error?.message ?? "the job failed")
        case .queued, .running:
            return JSONResponse.text(
                "Job \(job.id) (\(job.kind.rawValue) of \(job.container)) is still \(job.state.rawValue): GET /jobs/\(job.id)", status: .accepted)
        }
    }

    /// Several jobs (links, purge): 204 once all succeeded, else the first failure.
    static func answerAll(_ submissions: [NodeAgent.Submission], request: Request, agent: NodeAgent) async throws -> Response {
        for submission in submissions {
            let job = try await finished(submission, request: request, agent: agent)
            if job.state == .failed {
                let code = job.error?.error ?? GearError.Code.internal.rawValue
                return failure(
                    HTTPErrorMapping.status(forJobError: code), code: code, message: "\(job.container): \(job.error?.message ?? "the job failed")")
            }
        }
        return Response(status: .noContent)
    }

    /// geard's failure body, `{"Message": ..., "Error": code}`.
    static func failure(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        var writer = JSONWriter(capacity: message.utf8.count + 64)
        writer.beginObject()
        writer.key("Message")
        writer.string(message)
        writer.key("Error")
        writer.string(code)
        writer.endObject()
        var response = JSONResponse.json(writer, status: status)
        response.headers.append(contentsOf: HTTPErrorMapping.headers(for: status))
        return response
    }

    /// Any error as geard's failure body.
    static func failure(_ error: any Error, requestID: String?) -> Response {
        let (status, body) = HTTPErrorMapping.apiError(for: error, requestID: requestID)
        return failure(status, code: body.error, message: body.message)
    }

    /// `GET /containers`: `{"Containers":[{"Id":..,"ActiveState":..,"SubState":..,"LoadState":..}]}`, sorted by id.
    static func list(_ containers: [ContainerStatus]) -> Response {
        var writer = JSONWriter(capacity: 96 * containers.count + 32)
        writer.beginObject()
        writer.key("Containers")
        writer.beginArray()
        for status in containers.sorted(by: { $0.id < $1.id }) {
            writer.beginObject()
            writer.key("Id")
            writer.string(status.id)
            writer.key("ActiveState")
            writer.string(status.activeState)
            writer.key("SubState")
            writer.string(status.subState)
            writer.key("LoadState")
            writer.string(status.loadState)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return JSONResponse.json(writer)
    }

    /// `GET /container/{id}/status`: the container as `systemctl status` shows a unit (geard answered with that
    /// command's output), then its last journal lines as that command shows them.
    static func status(_ s: ContainerStatus, log: [LogRecord], timeZone: TimeZone = .current) -> String {
        var lines = ["● \(s.unit) - gear container \(s.id) (\(s.runtime))"]
        lines.append("     Loaded: \(s.loadState) (\(s.started ? "enabled" : "disabled"))")
        var active = "     Active: \(s.activeState) (\(s.subState))"
        if let since = s.activeSince ?? s.inactiveSince { active += " since \(since.formatted(.iso8601))" }
        lines.append(active)
        if let pid = s.mainPID { lines.append("   Main PID: \(pid)") }
        if let result = s.result, result != "success" || s.exitStatus.map({ $0 != 0 }) == true {
            lines.append("     Result: \(result)\(s.exitStatus.map { Self.exitStatus($0, result: result) } ?? "")")
        }
        if let image = s.image { lines.append("      Image: \(image)") }
        if !s.ports.isEmpty { lines.append("      Ports: \(s.ports.map { "\($0.internalPort) -> \($0.externalPort)" }.joined(separator: ", "))") }
        if s.restarts > 0 { lines.append("   Restarts: \(s.restarts)") }
        if !log.isEmpty {
            lines.append("")
            lines += log.map { journalLine($0, timeZone: timeZone) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One journal entry as `systemctl status` (journalctl's short format) shows it: `Dec 07 07:01:48
    /// podman[602]: message`, in journal order. The time stamp is when journald received the entry, which is what
    /// orders the lines (podman's own messages carry the time of the event they report, which may be earlier).
    /// The lines of a multi-line message after its first are indented under it.
    static func journalLine(_ record: LogRecord, timeZone: TimeZone) -> String {
        let date = Date(timeIntervalSince1970: Double(record.realtime) / 1_000_000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.month, .day, .hour, .minute, .second], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        var prefix = "\(months[((c.month ?? 1) - 1) % 12]) \(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second))"
        if let who = record.identifier {
            prefix += " \(who.debugEscaped)"
            if let pid = record.pid { prefix += "[\(pid)]" }
            prefix += ":"
        }
        let parts = record.line.split(separator: "\n", omittingEmptySubsequences: false)
        let indent = String(repeating: " ", count: prefix.count + 1)
        return ([prefix + " " + (parts.first ?? "")] + parts.dropFirst().map { indent + $0 }).joined(separator: "\n")
    }

    /// The exit status as status shows it: a stop ends the main process with SIGTERM, which the unit counts as
    /// success (`SuccessExitStatus=143`, 128 + 15), so that is said rather than a bare 143.
    static func exitStatus(_ status: Int, result: String) -> String {
        status == 143 && result == "success" ? ", stopped by SIGTERM (exit status 143)" : ", exit status \(status)"
    }

    /// `GET /environment/{id}`: geard's environment file, one `NAME="value"` line per variable (Go's quoting).
    static func environment(_ environment: SharedEnvironment) -> String {
        environment.variables.map { "\($0.name)=\(goQuoted($0.value))\n" }.joined()
    }

    /// A string as Go's `strconv.Quote` writes it: in double quotes, with `"` and `\` escaped, control characters
    /// as `\n`, `\t`, ... or `\x..`, and printable Unicode as it is.
    static func goQuoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
