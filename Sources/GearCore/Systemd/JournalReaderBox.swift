import SystemdJournal

/// Opens a journal reader for one blocking call and closes it after.
struct JournalReaderBox {
    let reader: JournalReader

    init() throws {
        reader = try JournalReader()
    }

    func tail(unit: String, lines: Int) throws -> [LogRecord] {
        try reader.matchUnit(unit)
        return try reader.tail(lines, fields: [.pid, .identifier]).map(LogRecord.init)
    }

    /// Throws when the journal cannot be opened (the health check's probe).
    static func probe() throws {
        _ = try JournalReader()
    }
}
