import Foundation
import GearAPI
import GearCore
import GearEtcd

/// One container of a node's desired state, read from its key: the install body as the node will install it.
struct DesiredContainer: Sendable, Hashable {
    var id: ContainerID
    /// The body with the node's labels added (`EtcdLabel`), `Started` as the entry says.
    var request: InstallRequest
    /// A digest of what the container runs (the body without `Started` and `IfFits`): a different one means a
    /// replacement.
    var digest: String
    var started: Bool
    /// The entry's `mod_revision`.
    var revision: Int64
}

/// One named environment of a node's desired state.
struct DesiredEnvironment: Sendable, Hashable {
    var id: EnvironmentID
    var variables: [EnvironmentVariable]
    var revision: Int64
}

/// Reads desired entries; whatever the HTTP API would refuse is refused here, with a message for the observed entry.
enum DesiredEntry {
    /// The largest value read: the HTTP API's largest JSON body.
    static let maxValueBytes = GearAPI.maxJSONBodySize

    static func container(_ rawID: String, _ entry: EtcdEntry, node: String) -> Result<DesiredContainer, GearError> {
        do {
            let id = try ContainerID(rawID)
            guard entry.value.count <= maxValueBytes else {
                throw GearError(.invalidRequest, "the value has \(entry.value.count) bytes; at most \(maxValueBytes) are read")
            }
            var request: InstallRequest
            do {
                request = try GearJSON.decoder().decode(InstallRequest.self, from: entry.value)
            } catch let error as DecodingError {
                throw GearError(.invalidRequest, error.fieldDescription)
            } catch {
                throw GearError(.invalidRequest, "the value is not an install body: \(error)")
            }
            if let given = request.id, !given.isEmpty, given != id.rawValue {
                throw GearError(.invalidRequest, "Id '\(given.prefix(80))' is not the container of the key, \(id)")
            }
            var labels = request.labels ?? [:]
            if let reserved = labels.keys.sorted().first(where: { $0.hasPrefix(EtcdLabel.reservedPrefix) }) {
                throw GearError(.invalidRequest, "Labels: \(reserved) is the node's own label")
            }
            let started = request.started ?? false
            var spec = request
            spec.started = nil
            // A precondition on the install, not what runs: setting it replaces nothing.
            spec.ifFits = nil
            let digest = SpecDigest.of(spec)
            labels[EtcdLabel.node] = node
            labels[EtcdLabel.spec] = digest
            request.labels = labels
            request.started = started
            return .success(DesiredContainer(id: id, request: request, digest: digest, started: started, revision: entry.modRevision))
        } catch let error as GearError {
            return .failure(error)
        } catch {
            return .failure(GearError(.invalidRequest, "\(error)"))
        }
    }

    static func environment(_ rawID: String, _ entry: EtcdEntry) -> Result<DesiredEnvironment, GearError> {
        do {
            let id = try EnvironmentID(rawID)
            guard entry.value.count <= maxValueBytes else {
                throw GearError(.invalidRequest, "the value has \(entry.value.count) bytes; at most \(maxValueBytes) are read")
            }
            guard !entry.value.isEmpty else { throw GearError(.invalidRequest, "the value is empty") }
            let change: EnvironmentChange
            do {
                change = try EnvironmentChange.parse(Array(entry.value))
            } catch {
                throw GearError(.invalidRequest, "\(error)")
            }
            return .success(DesiredEnvironment(id: id, variables: change.set, revision: entry.modRevision))
        } catch let error as GearError {
            return .failure(error)
        } catch {
            return .failure(GearError(.invalidRequest, "\(error)"))
        }
    }
}
