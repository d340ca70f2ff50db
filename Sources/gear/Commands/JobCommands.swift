import ArgumentParser
import GearAPI
import GearClient

/// Options of commands that queue jobs.
struct JobOptions: ParsableArguments {
    @Flag(name: .long, help: "Wait for each job to end and show its result.")
    var wait = false

    @Option(name: .customLong("wait-timeout"), help: "Seconds to wait with --wait.")
    var waitTimeout: Double = 120

    var waitSeconds: Double? { wait ? waitTimeout : nil }
}

/// Prints the answers of job calls: the job's state per locator, or its error.
func reportJobs(_ outcomes: [FanOut.Outcome<GearClient.JobAnswer>], options: GlobalOptions) throws {
    let output = Output(options: options)
    if options.output == .json {
        output.json(outcomes.map { FanOut.Outcome(locator: $0.locator, endpoint: $0.endpoint, result: $0.result.map(\.job)) })
    } else {
        let many = Output.manyHosts(outcomes)
        for outcome in outcomes {
            guard case .success(let answer) = outcome.result else { continue }
            var line =
                "\(Output.label(outcome, many: many)): \(answer.job.kind.rawValue) \(Output.colour(answer.job.state.rawValue)) (job \(answer.job.id))"
            if let mapping = answer.portMapping { line += " ports \(mapping)" }
            if let message = answer.job.result?.message, answer.job.state == .succeeded { line += ": \(message)" }
            output.print(line)
        }
    }
    try output.finish(outcomes)
}

/// A job's failure (when waiting) is a failure of the command.
func failedJob(_ answer: GearClient.JobAnswer) throws -> GearClient.JobAnswer {
    if answer.job.state == .failed {
        throw GearClientError.api(
            status: 0, error: APIError(error: answer.job.error?.error ?? "failed", message: answer.job.error?.message ?? "the job failed"))
    }
    return answer
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start containers (and start them at boot).", discussion: "Example: gear start web node2/web --wait")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func run() async throws {
        let (global, wait) = (global, job.waitSeconds)
        let targets = try global.locators(locators)
        try checkRequestID(global, targets)
        let outcomes = await FanOut.run(targets, options: global) { client, locator in
            try failedJob(try await client.start(locator.id, requestID: global.requestID, wait: wait))
        }
        try reportJobs(outcomes, options: global)
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop containers (and keep them from starting at boot).", discussion: "Example: gear stop web --wait")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func run() async throws {
        let (global, wait) = (global, job.waitSeconds)
        let targets = try global.locators(locators)
        try checkRequestID(global, targets)
        let outcomes = await FanOut.run(targets, options: global) { client, locator in
            try failedJob(try await client.stop(locator.id, requestID: global.requestID, wait: wait))
        }
        try reportJobs(outcomes, options: global)
    }
}

struct Restart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restart containers.", discussion: "Example: gear restart node1/web node2/web")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func run() async throws {
        let (global, wait) = (global, job.waitSeconds)
        let targets = try global.locators(locators)
        try checkRequestID(global, targets)
        let outcomes = await FanOut.run(targets, options: global) { client, locator in
            try failedJob(try await client.restart(locator.id, requestID: global.requestID, wait: wait))
        }
        try reportJobs(outcomes, options: global)
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete containers with their units, volumes and ports.", discussion: "Example: gear delete web --wait")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func run() async throws {
        let (global, wait) = (global, job.waitSeconds)
        let targets = try global.locators(locators)
        try checkRequestID(global, targets)
        let outcomes = await FanOut.run(targets, options: global) { client, locator in
            try failedJob(try await client.delete(locator.id, requestID: global.requestID, wait: wait))
        }
        try reportJobs(outcomes, options: global)
    }
}

struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait for jobs to end (wait-for-job).", discussion: "Example: gear wait node1/0123456789abcdef0123456789abcdef")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("wait-timeout"), help: "Seconds to wait for each job.") var waitTimeout: Double = 120
    @Argument(help: "[host[:port]/]job-id") var jobs: [String]

    func run() async throws {
        let (global, timeout) = (global, waitTimeout)
        let outcomes = await FanOut.run(try global.locators(jobs), options: global) { client, locator in
            try failedJob(try await client.wait(job: locator.id, timeout: timeout))
        }
        try reportJobs(outcomes, options: global)
    }
}
