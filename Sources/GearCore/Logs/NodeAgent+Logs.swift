public import GearAPI
import SystemdJournal

/// Reading containers' journals (`GET /container/{id}/log`).
extension NodeAgent {
    /// Opens the journal of container `id` positioned for `query`. Unknown container: `.notFound`; a cursor
    /// sd-journal cannot parse: `.invalidRequest`. `fields` says what the consumer needs besides message and
    /// time (each costs time per entry).
    public nonisolated func log(_ id: ContainerID, query: LogQuery, fields: LogFields) async throws(GearError) -> LogStream {
        guard index[id] != nil else { throw GearError(.notFound, "no container \(id) is installed") }
        let index = self.index
        return try await openLog(unit: id.unitName, query: query, fields: fields) { index[id] != nil }
    }

    /// Opens the journal of `unit` positioned for `query`; a follow goes on while `stillGoing` holds (asked again
    /// every `recheck` while nothing is written, when given).
    nonisolated func openLog(
        unit: String, query: LogQuery, fields: LogFields, recheck: Duration? = nil, stillGoing: @escaping @Sendable () -> Bool
    ) async throws(GearError) -> LogStream {
        let epoch = journalWatcher.epoch
        let reader: UnsafeReader
        do {
            reader = try await BlockingIO.run { () throws -> UnsafeReader in UnsafeReader(try LogStream.open(unit: unit, query: query)) }
        } catch let error as GearError {
            throw error
        } catch {
            throw GearError(.internal, "cannot read the journal: \(error)")
        }
        return LogStream(
            reader: reader.reader, unit: unit, epoch: epoch, query: query, fields: fields, watcher: journalWatcher, recheck: recheck,
            stillInstalled: stillGoing)
    }
}
