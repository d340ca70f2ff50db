public import Foundation

/// What a job does.
public enum JobKind: String, Sendable, Hashable, Codable, CaseIterable {
    case install, delete, start, stop, restart
    /// geard's `POST /containers/links`: a container's network links set.
    case link
    /// `POST /images`: an image archive loaded (or a root file system imported) into podman.
    case imageImport = "image-import"
    /// `POST /jobs`: a program or image run once as a transient unit.
    case run
}

/// Where a job is in its life.
public enum JobState: String, Sendable, Hashable, Codable, CaseIterable {
    case queued, running, succeeded, failed

    /// True once the job will not change any more.
    public var isFinished: Bool { self == .succeeded || self == .failed }
}

/// A unit of work accepted by geard: every mutating call is one.
public struct Job: Sendable, Hashable, Codable {
    /// The job id: the request's `X-Request-Id`, or one geard made.
    public var id: String
    public var kind: JobKind
    /// The container the job acts on (empty for image imports).
    public var container: String
    public var state: JobState
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// What the job produced, once it succeeded (the container's status; nothing for a delete).
    public var result: JobResult?
    /// Why it failed.
    public var error: JobError?
    /// A run job: the transient unit it runs in (`gear-run-{id}.service`).
    public var unit: String?
    /// A run job, once its program ended: how.
    public var exit: JobExit?

    public init(
        id: String, kind: JobKind, container: String, state: JobState, createdAt: Date, startedAt: Date? = nil,
        finishedAt: Date? = nil, result: JobResult? = nil, error: JobError? = nil, unit: String? = nil, exit: JobExit? = nil
    ) {
        self.id = id
        self.kind = kind
        self.container = container
        self.state = state
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.error = error
        self.unit = unit
        self.exit = exit
    }
}

/// The outcome of a successful job.
public struct JobResult: Sendable, Hashable, Codable {
    /// The container after the job (absent after a delete).
    public var container: ContainerStatus?
    /// The images an image import loaded, by name (or id when they have none).
    public var images: [String]?
    /// A short human-readable summary.
    public var message: String

    public init(container: ContainerStatus?, images: [String]? = nil, message: String) {
        self.container = container
        self.images = images
        self.message = message
    }
}

/// The answer of `GET /jobs`.
public struct JobList: Sendable, Hashable, Codable {
    public var jobs: [Job]

    public init(jobs: [Job]) { self.jobs = jobs }
}

/// Why a job failed: a stable code and a message for people.
public struct JobError: Sendable, Hashable, Codable {
    public var error: String
    public var message: String

    public init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}
