import SystemdJournal

/// Structured entries into the node's journal, for what transports record (authorization decisions:
/// `journalctl GEAR_AUDIT=1`) without knowing sd-journal.
public enum NodeJournal {
    /// Sends one entry of `NAME=value` fields (names: upper case letters, digits and `_`, not starting with `_`);
    /// false when journald could not be reached. `MESSAGE` should be among the fields.
    @discardableResult
    public static func send(_ fields: [(name: String, value: String)]) -> Bool {
        JournalSender.send(fields)
    }
}
