/// The JSON body of every error answer, and the `error` of a failed job.
///
/// `error` is a stable machine-readable code (`invalid_id`, `not_found`, `port_conflict`, ...); `message` says
/// what went wrong for a person.
public struct APIError: Error, Sendable, Hashable, Codable {
    public var error: String
    public var message: String
    /// The request (or job) id the error belongs to.
    public var requestId: String?
    /// For a wait that ended with a failed job: the job.
    public var job: Job?

    public init(error: String, message: String, requestId: String? = nil, job: Job? = nil) {
        self.error = error
        self.message = message
        self.requestId = requestId
        self.job = job
    }
}
