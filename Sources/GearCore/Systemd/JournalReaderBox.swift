import SystemdJournal

/// Opens a journal reader for one blocking call and closes it after.
struct JournalReaderBox {
    let reader: JournalReader

    init() throws {
        reader = try JournalReader()
    }

    func tail(unit: String, lines: Int) throws -> [String] {
        try reader.matchUnit(unit)
        return try reader.tail(lines).map(\.text)
    }

    /// Throws when the journal cannot be opened (the health check's probe).
    static func probe() throws {
        _ = try JournalReader()
    }
}
