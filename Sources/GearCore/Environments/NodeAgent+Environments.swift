import Foundation
public import GearAPI
import Logging

/// Named environments (`/environment/{id}`): variables kept by geard that containers installed with
/// `EnvironmentId` read when they start. They are files, not units: a change is written at once (not as a job)
/// and reaches the containers that use it when they next start or restart, which is the client's choice; the
/// answer names them.
extension NodeAgent {
    /// The environment `id`.
    public func environment(_ id: EnvironmentID) throws(GearError) -> SharedEnvironment {
        guard let stored = sharedEnvironments[id] else { throw GearError(.notFound, "no environment \(id)") }
        return answer(stored)
    }

    /// Every environment, by id.
    public func environments() -> [SharedEnvironment] {
        sharedEnvironments.values.sorted { $0.id < $1.id }.map(answer)
    }

    /// Replaces the variables of `id` (creating it); a name given twice keeps its last value.
    public func putEnvironment(_ id: EnvironmentID, _ change: EnvironmentChange) async throws(GearError) -> SharedEnvironment {
        guard change.remove.isEmpty else {
            throw GearError(
                .invalidRequest,
                "a replacement sets the whole environment: leave out the variables to remove (null removes one only in a partial change)")
        }
        return try await store(id, variables: Self.merged([:], change))
    }

    /// Sets the given variables of `id` (a later value wins) and removes those given as null; creates it.
    public func patchEnvironment(_ id: EnvironmentID, _ change: EnvironmentChange) async throws(GearError) -> SharedEnvironment {
        let current = Dictionary(uniqueKeysWithValues: (sharedEnvironments[id]?.variables ?? []).map { ($0.name, $0.value) })
        return try await store(id, variables: Self.merged(current, change))
    }

    /// Removes `id`; refused while a container (installed, or being installed) uses it.
    public func deleteEnvironment(_ id: EnvironmentID) async throws(GearError) {
        guard sharedEnvironments[id] != nil else { return }
        let users = usedBy(id)
        guard users.isEmpty else {
            throw GearError(
                .conflict, "environment \(id) is used by \(users.joined(separator: ", ")): install them without it, or delete them, first")
        }
        sharedEnvironments[id] = nil
        environmentVersion += 1
        let version = environmentVersion
        let files = environmentFiles
        do {
            try await BlockingIO.run { try files.remove(id, version: version) }
        } catch {
            throw Self.gearError(error)
        }
    }

    /// The variables after `change`, validated like a container's `Environment`, sorted by name.
    static func merged(_ current: [String: String], _ change: EnvironmentChange) -> [EnvironmentVariable] {
        var values = current
        for variable in change.set { values[variable.name] = variable.value }
        for name in change.remove { values[name] = nil }
        return values.map { EnvironmentVariable(name: $0.key, value: $0.value) }
    }

    private func store(_ id: EnvironmentID, variables: [EnvironmentVariable]) async throws(GearError) -> SharedEnvironment {
        let valid: [EnvironmentVariable]
        do {
            valid = try ContainerSpec.validateEnvironment(variables)
        } catch {
            throw GearError(.invalidRequest, error.message.replacingOccurrences(of: "Environment", with: "environment \(id):"))
        }
        let stored = StoredEnvironment(id: id, variables: valid, updatedAt: Date())
        sharedEnvironments[id] = stored
        environmentVersion += 1
        let version = environmentVersion
        let files = environmentFiles
        do {
            try await BlockingIO.run { try files.write(stored, version: version) }
        } catch {
            throw Self.gearError(error)
        }
        return answer(stored)
    }

    private func answer(_ stored: StoredEnvironment) -> SharedEnvironment {
        SharedEnvironment(id: stored.id.rawValue, variables: stored.variables, usedBy: usedBy(stored.id), updatedAt: stored.updatedAt)
    }

    /// The containers whose definition (in force or being installed) names the environment.
    func usedBy(_ id: EnvironmentID) -> [String] {
        var users = Set(definitions.values.filter { $0.spec.environmentID == id }.map(\.id.rawValue))
        for pending in pendingInstalls.values where pending.definition.spec.environmentID == id { users.insert(pending.container.rawValue) }
        return users.sorted()
    }

    /// Loads the environments at start and repairs their files.
    func loadEnvironments() async throws {
        let files = environmentFiles
        let (loaded, unreadable) = try await BlockingIO.run { () throws -> ([StoredEnvironment], [String]) in
            let (loaded, unreadable) = try files.loadAll()
            for environment in loaded { try files.renderFiles(environment) }
            try files.sweep(keeping: Set(loaded.map(\.id)))
            return (loaded, unreadable)
        }
        for path in unreadable { logger.error("ignoring an unreadable environment", metadata: ["file": "\(path)"]) }
        sharedEnvironments = Dictionary(loaded.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
