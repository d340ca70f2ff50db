import SystemdJournal

/// Reading containers' journals (`GET /container/{id}/log`).
extension NodeAgent {
    /// Opens the journal of container `id` positioned for `query`. Unknown container: `.notFound`; a cursor
    /// sd-journal cannot parse: `.invalidRequest`. `fields` says what the consumer needs besides message and
    /// time (each costs time per entry).
    public nonisolated func log(_ id: ContainerID, query: LogQuery, fields: LogFields) async throws(GearError) -> LogStream {
        guard index[id] != nil else { throw GearError(.notFound, "no container \(id) is installed") }
        let unit = id.unitName
        let epoch = journalWatcher.epoch
        let reader: UnsafeReader
        do {
            reader = try await BlockingIO.run { () throws -> UnsafeReader in UnsafeReader(try LogStream.open(unit: unit, query: query)) }
        } catch let error as GearError {
            throw error
        } catch {
            throw GearError(.internal, "cannot read the journal: \(error)")
        }
        let index = self.index
        return LogStream(reader: reader.reader, unit: unit, epoch: epoch, query: query, fields: fields, watcher: journalWatcher) {
            index[id] != nil
        }
    }
}
