public import Foundation
public import GearAPI
import GearSystem
import Synchronization

/// One-time tokens already accepted, kept on disk until they expire so that neither a replay nor a geard restart
/// lets one be used twice. Each acceptance is written (atomically, fsynced) before it is answered.
public final class UsedTokenLedger: Sendable {
    public let path: String
    private let used: Mutex<[String: Int64]>

    /// Loads the ledger at `path` (a missing file is an empty ledger), dropping expired entries.
    public init(path: String, now: Date = Date()) throws(GearError) {
        self.path = path
        var entries: [String: Int64] = [:]
        let stored: [UInt8]?
        do {
            stored = try AtomicFile.read(path)
        } catch {
            throw GearError(systemCall: error.operation, errno: error.errno)
        }
        if let bytes = stored {
            guard let decoded = try? JSONDecoder().decode([String: Int64].self, from: Data(bytes)) else {
                throw GearError(.internal, "\(path) is not a token ledger")
            }
            let cutoff = Int64(now.timeIntervalSince1970)
            entries = decoded.filter { $0.value >= cutoff }
        }
        self.used = Mutex(entries)
    }

    /// Records `id` as used until `expires`; false when it was used already (a replay).
    public func consume(_ id: String, expires: Int64, now: Date = Date()) throws(GearError) -> Bool {
        let result: Result<Bool, GearError> = used.withLock { used in
            let cutoff = Int64(now.timeIntervalSince1970)
            if let until = used[id], until >= cutoff { return .success(false) }
            var next = used.filter { $0.value >= cutoff }
            next[id] = expires
            do {
                let data = try JSONEncoder().encode(next)
                try AtomicFile.write(path, Array(data), mode: 0o600)
            } catch let error as SystemError {
                return .failure(GearError(systemCall: "cannot record a used token: \(error.operation)", errno: error.errno))
            } catch {
                return .failure(GearError(.internal, "cannot record a used token: \(error)"))
            }
            used = next
            return .success(true)
        }
        return try result.get()
    }
}
