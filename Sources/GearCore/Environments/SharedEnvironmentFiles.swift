import Foundation
import GearAPI
import Synchronization

/// A named environment as geard keeps it: `{state}/environments/{id}.json`.
struct StoredEnvironment: Sendable, Hashable, Codable {
    var id: EnvironmentID
    /// Sorted by name; names unique; validated like a container's `Environment`.
    var variables: [EnvironmentVariable]
    var updatedAt: Date
}

/// Writes and removes the files of named environments: the record (the source of truth) and its two renderings,
/// each atomically.
///
/// The agent changes its view first and then writes; two changes of one environment may reach the disk in either
/// order, so each write carries the version of the view it was made from and a write older than what is on disk
/// is dropped. Writes of all environments are serialized by one lock, held off the agent's executor.
final class SharedEnvironmentFiles: Sendable {
    let layout: StateLayout
    private let written = Mutex<[EnvironmentID: UInt64]>([:])

    init(layout: StateLayout) {
        self.layout = layout
    }

    /// Loads every record (blocking); unreadable ones are returned by path.
    func loadAll() throws(GearError) -> (environments: [StoredEnvironment], unreadable: [String]) {
        try FileSystem.removeTemporaryFiles(in: layout.sharedEnvironments)
        let decoder = GearJSON.decoder()
        var environments: [StoredEnvironment] = []
        var unreadable: [String] = []
        for name in try FileSystem.list(layout.sharedEnvironments) where name.hasSuffix(".json") {
            let path = "\(layout.sharedEnvironments)/\(name)"
            if let data = try FileSystem.read(path), let stored = try? decoder.decode(StoredEnvironment.self, from: Data(data)),
                "\(stored.id).json" == name
            {
                environments.append(stored)
            } else {
                unreadable.append(path)
            }
        }
        return (environments, unreadable)
    }

    /// Writes `environment` at `version` (blocking): the record, then what units read.
    func write(_ environment: StoredEnvironment, version: UInt64) throws(GearError) {
        let id = environment.id
        let record: [UInt8]
        do {
            record = Array(try GearJSON.encoder(pretty: true).encode(environment))
        } catch {
            throw GearError(.internal, "cannot encode environment \(id): \(error)")
        }
        try written.withLock { (written: inout [EnvironmentID: UInt64]) throws(GearError) in
            if let done = written[id], done > version { return }
            try FileSystem.writeAtomically(layout.sharedEnvironmentRecord(id), record, mode: 0o600)
            try renderFiles(environment)
            written[id] = version
        }
    }

    /// Writes the renderings of `environment` when they differ from it (blocking; at start, to repair a crash
    /// between the record and them).
    func renderFiles(_ environment: StoredEnvironment) throws(GearError) {
        for podman in [false, true] {
            let path = layout.sharedEnvironmentFile(environment.id, podman: podman)
            let text = UnitRenderer.environmentFile(environment.variables, podman: podman)
            if try FileSystem.readText(path) != text { try FileSystem.writeAtomically(path, text, mode: 0o600) }
        }
    }

    /// Removes the environment's files (blocking), unless a newer write than `version` happened.
    func remove(_ id: EnvironmentID, version: UInt64) throws(GearError) {
        try written.withLock { (written: inout [EnvironmentID: UInt64]) throws(GearError) in
            if let done = written[id], done > version { return }
            // The record first: once it is gone the environment is gone, whatever a crash leaves.
            try FileSystem.remove(layout.sharedEnvironmentRecord(id))
            for podman in [false, true] { try FileSystem.remove(layout.sharedEnvironmentFile(id, podman: podman)) }
            FileSystem.syncDirectory(layout.sharedEnvironments)
            written[id] = version
        }
    }
}

extension SharedEnvironmentFiles {
    /// Removes renderings whose record is gone (a delete cut off after its commit point), blocking.
    func sweep(keeping ids: Set<EnvironmentID>) throws(GearError) {
        for name in try FileSystem.list(layout.sharedEnvironments) where name.hasSuffix(".env") {
            let base = name.hasSuffix(".podman.env") ? String(name.dropLast(11)) : String(name.dropLast(4))
            guard let id = try? EnvironmentID(base), ids.contains(id) else {
                try FileSystem.remove("\(layout.sharedEnvironments)/\(name)")
                continue
            }
        }
    }
}
