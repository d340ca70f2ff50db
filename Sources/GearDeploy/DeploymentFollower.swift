public import Foundation
public import GearAPI
public import GearEtcd
import Synchronization

/// `gear deploy --etcd`'s view of the orchestrator's work on one deployment: it reads each status the leading
/// orchestrator writes under `/gear/v1/status/deployments/{name}` (every one, from a watch) and turns them into the
/// lines the command prints (an instance's node, id and state whenever one changes) and, once there is one, the
/// verdict on the descriptor written at `revision`. Pure: tested without etcd.
public struct DeploymentFollower: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// Every instance of the descriptor placed, running as desired, healthy where checked.
        case running(DeploymentStatus)
        /// The orchestrator cannot read or plan the descriptor: its message names the field. Nothing was changed.
        case invalid(String)
        /// An instance of it failed (refused by its node, its unit failed, its check says unhealthy): the
        /// orchestrator replaces no further instance while it is not ready, so the rest keep their version.
        case failed(node: String, id: String, reason: String)
        /// Someone wrote the deployment again (this revision) while this was followed.
        case superseded(Int64)
        /// Its status is gone: the deployment was deleted and its instances with it (`--delete`).
        case deleted
    }

    public let name: String
    /// The `mod_revision` of the descriptor followed (for `--delete`, of its deletion).
    public let revision: Int64
    public let deleting: Bool
    /// The last state printed per instance (`node/id` → state and reason).
    private var shown: [String: String] = [:]
    private var seenOwnStatus = false
    private var lastPending: [String]?
    private var lastMessage: String?

    /// `baseline`: the deployment's status before the write, read then: what it showed is not news, and what of it
    /// is gone later was deleted.
    public init(name: String, revision: Int64, deleting: Bool = false, baseline: DeploymentStatus? = nil) {
        self.name = name
        self.revision = revision
        self.deleting = deleting
        for instance in baseline?.instances ?? [] { shown["\(instance.node)/\(instance.id)"] = Self.state(instance) }
        seenBaseline = baseline != nil
    }

    private let seenBaseline: Bool

    static func state(_ instance: DeploymentStatus.Instance) -> String { instance.state + (instance.reason.map { "\t\($0)" } ?? "") }

    /// What one status (nil: the key was deleted) adds: lines to print, and the verdict when there is one.
    public mutating func take(_ status: DeploymentStatus?) -> (lines: [String], verdict: Verdict?) {
        guard let status else { return ([], deleting ? .deleted : nil) }
        // A status about an older descriptor says nothing of this one (the orchestrator has not read it yet).
        if status.deploymentRevision < revision && !deleting { return ([], nil) }
        if status.deploymentRevision > revision && !deleting { return ([], .superseded(status.deploymentRevision)) }
        var lines: [String] = []
        let first = !seenOwnStatus
        seenOwnStatus = true
        var present = Set<String>()
        for instance in status.instances {
            let key = "\(instance.node)/\(instance.id)"
            present.insert(key)
            let state = Self.state(instance)
            guard shown[key] != state else { continue }
            // Without a status from before, at first sight only what is being done: instances as wanted are not news.
            let settled = ["running", "healthy", "stopped"].contains(instance.state)
            if !(first && settled && !seenBaseline) { lines.append("\(instance.node)\t\(instance.id)\t\(state)") }
            shown[key] = state
        }
        for key in shown.keys.sorted() where !present.contains(key) {
            let parts = key.split(separator: "/", maxSplits: 1)
            lines.append("\(parts[0])\t\(parts.count > 1 ? parts[1] : "")\tdeleted")
            shown[key] = nil
        }
        if deleting { return (lines, nil) }
        switch status.state {
        case .running:
            return (lines, .running(status))
        case .invalid:
            return (lines, .invalid(status.message ?? "the descriptor is invalid"))
        case .pending:
            if status.pending != lastPending {
                lastPending = status.pending
                let reasons = status.pending ?? [status.message ?? "it fits on no node"]
                lines.append("pending: \(status.message.map { Self.firstSentence($0) } ?? "fits on no node"), it is placed when room appears:")
                lines += reasons.map { "  \($0)" }
            }
        case .waiting:
            if status.message != lastMessage, let message = status.message { lines.append("waiting: \(message)") }
        case .converging:
            break
        }
        lastMessage = status.message
        if let failed = status.instances.first(where: { $0.state == "failed" }) {
            return (lines, .failed(node: failed.node, id: failed.id, reason: failed.reason ?? "failed"))
        }
        return (lines, nil)
    }

    static func firstSentence(_ message: String) -> String {
        message.range(of: ": ").map { String(message[..<$0.lowerBound]) } ?? message
    }
}

extension DeploymentFollower {
    /// Reads the deployment's status and follows it with a watch from there (resumed where it left off when the
    /// connection drops) until the verdict or `deadline`. `line` hears each line, `idle` is asked about once a second
    /// with nothing new (to say when no orchestrator leads). Answers nil at the deadline.
    public mutating func follow(
        _ client: EtcdClient, until deadline: ContinuousClock.Instant, line: @Sendable (String) -> Void,
        idle: @Sendable () async -> Void = {}
    ) async throws(EtcdError) -> Verdict? {
        let key = GearKeys.deploymentStatus(name)
        let decoder = GearJSON.decoder()
        func decode(_ entry: EtcdEntry) -> DeploymentStatus? { try? decoder.decode(DeploymentStatus.self, from: entry.value) }

        let read = try await client.range(prefix: key)
        let current = read.values.first { $0.key == key }
        if current != nil || deleting {
            let (lines, verdict) = take(current.flatMap(decode))
            lines.forEach(line)
            if let verdict { return verdict }
        }
        enum Item: Sendable {
            case batch(EtcdWatchBatch)
            case ended(EtcdError)
            case tick
        }
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        // Where a watch that dropped resumes: after the last revision handed on.
        let resume = Resume(read.revision + 1)
        let watcher = Task {
            while !Task.isCancelled {
                do throws(EtcdError) {
                    try await client.watch(prefix: key, from: resume.revision) { batch in
                        continuation.yield(.batch(batch))
                        resume.advance(past: batch.revision)
                    }
                } catch {
                    if error.code != .unavailable {
                        continuation.yield(.ended(error))
                        return
                    }
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                continuation.yield(.tick)
            }
        }
        defer {
            watcher.cancel()
            ticker.cancel()
            continuation.finish()
        }
        for await item in stream {
            switch item {
            case .batch(let batch):
                for event in batch.events where event.entry.key == key {
                    let (lines, verdict) = take(event.kind == .delete ? nil : decode(event.entry))
                    lines.forEach(line)
                    if let verdict { return verdict }
                }
            case .ended(let error):
                throw error
            case .tick:
                if ContinuousClock.now >= deadline { return nil }
                await idle()
            }
        }
        return nil
    }
}

private final class Resume: Sendable {
    private let next: Mutex<Int64>
    init(_ revision: Int64) { next = Mutex(revision) }
    var revision: Int64 { next.withLock { $0 } }
    func advance(past revision: Int64) { next.withLock { $0 = max($0, revision + 1) } }
}
