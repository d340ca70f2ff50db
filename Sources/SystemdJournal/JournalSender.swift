import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Writes structured entries to the journal (`sd_journal_sendv`): each field a `NAME=value` pair, names upper
/// case letters, digits and `_` (not starting with `_`, which journald reserves for trusted fields).
public enum JournalSender {
    /// Sends one entry; answers false when journald could not be reached. `MESSAGE` should be among the fields.
    /// The corresponding C function is `sd_journal_sendv`.
    @discardableResult
    public static func send(_ fields: [(name: String, value: String)]) -> Bool {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = bytes.count
            bytes += field.name.utf8
            bytes.append(UInt8(ascii: "="))
            bytes += field.value.utf8
            ranges.append(start..<bytes.count)
        }
        return bytes.withUnsafeMutableBytes { raw in
            var vectors = ranges.map { iovec(iov_base: raw.baseAddress! + $0.lowerBound, iov_len: $0.count) }
            return sd_journal_sendv(&vectors, Int32(vectors.count)) >= 0
        }
    }

    /// Whether `name` may name a field.
    public static func isValidFieldName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: "_"), name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }
}
