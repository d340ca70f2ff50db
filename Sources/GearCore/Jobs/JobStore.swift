import Foundation
import GearAPI

/// A job as kept on disk: the API's view plus the fingerprint of the request that made it, so that a retry with
/// the same request id is recognised (and a different request with a reused id refused) after a restart too.
struct StoredJob: Codable, Sendable {
    var job: Job
    var fingerprint: String
    /// A run job's spec, while it may still run (to resume waiting for it after a restart).
    var run: RunSpec? = nil
}

/// Keeps jobs under `{state}/jobs/{id}.json`, one atomically written file per job.
struct JobStore: Sendable {
    let layout: StateLayout

    func save(_ stored: StoredJob) async throws {
        let path = layout.jobFile(stored.job.id)
        let data = try GearJSON.encoder().encode(stored)
        try await BlockingIO.run { try FileSystem.writeAtomically(path, data, mode: 0o600) }
    }

    func remove(_ ids: [String]) async {
        // A run's variables file too, when a crash left it.
        let paths = ids.map(layout.jobFile) + ids.map { layout.jobs + "/\($0).env" }
        _ = try? await BlockingIO.run {
            for path in paths { try? FileSystem.remove(path) }
        }
    }

    /// Every job on disk; unreadable files are reported through `skipped` and left alone.
    func loadAll() async throws -> (jobs: [StoredJob], skipped: [String]) {
        let directory = layout.jobs
        return try await BlockingIO.run {
            try FileSystem.removeTemporaryFiles(in: directory)
            var jobs: [StoredJob] = []
            var skipped: [String] = []
            let decoder = GearJSON.decoder()
            for name in try FileSystem.list(directory) where name.hasSuffix(".json") {
                let path = "\(directory)/\(name)"
                guard let data = try FileSystem.read(path), let stored = try? decoder.decode(StoredJob.self, from: Data(data)) else {
                    skipped.append(path)
                    continue
                }
                jobs.append(stored)
            }
            return (jobs, skipped)
        }
    }
}
