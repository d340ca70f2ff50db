import Foundation

/// A message's headers (NATS/1.0, like HTTP's): names and values in order, and the status line's code, which the
/// broker sets on its own messages (503: no responders).
public struct NATSHeaders: Sendable, Hashable {
    /// The fields in order; a name may repeat.
    public private(set) var fields: [(name: String, value: String)]
    /// The code of the status line (`NATS/1.0 503`), nil when it has none.
    public var status: Int?
    /// What follows the status code on its line.
    public var statusDescription: String?

    public init(_ fields: [(name: String, value: String)] = [], status: Int? = nil) {
        self.fields = fields
        self.status = status
    }

    /// The first value of `name` (compared without case, as the broker's clients do).
    public subscript(name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Adds a field, after checking that it cannot end its line: a name is printable ASCII without `:` or space, a
    /// value has no CR or LF.
    public mutating func append(_ name: String, _ value: String) throws(NATSError) {
        guard !name.isEmpty, name.utf8.count <= 256, name.utf8.allSatisfy({ NATSSubject.isTokenByte($0) && $0 != UInt8(ascii: ":") }) else {
            throw NATSError(.invalidArgument, "header name \(NATSSubject.quoted(name)): printable ASCII without ':' or space")
        }
        guard value.utf8.count <= 4096, !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
            throw NATSError(.invalidArgument, "header \(name): a value of at most 4096 bytes without CR, LF or NUL")
        }
        fields.append((name, value))
    }

    /// The header block as it goes on the wire, ending with its blank line.
    public var encoded: [UInt8] {
        var text = "NATS/1.0"
        if let status { text += " \(status)" + (statusDescription.map { " " + $0 } ?? "") }
        text += "\r\n"
        for field in fields { text += "\(field.name): \(field.value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Reads a header block (the `NATS/1.0` line, `Name: value` lines, a blank line).
    public init(parsing bytes: some Collection<UInt8>) throws(NATSError) {
        let bytes = Array(bytes)
        guard bytes.starts(with: Array("NATS/1.0".utf8)) else { throw NATSError(.protocolViolation, "headers do not start with NATS/1.0") }
        guard bytes.count >= 12, bytes.suffix(4).elementsEqual([13, 10, 13, 10]) else {
            throw NATSError(.protocolViolation, "headers do not end with a blank line")
        }
        // Lines split at CRLF; a lone CR or LF inside a line is refused with the line.
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        let body = bytes.count - 2  // the blank line's CRLF
        while index < body {
            if bytes[index] == 13 && bytes[index + 1] == 10 {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        self.fields = []
        let statusLine = String(decoding: lines.removeFirst().dropFirst(8), as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if !statusLine.isEmpty {
            let parts = statusLine.split(separator: " ", maxSplits: 1)
            guard let code = Int(parts[0]), (100...999).contains(code) else {
                throw NATSError(.protocolViolation, "a header status that is not a code")
            }
            status = code
            statusDescription = parts.count > 1 ? String(parts[1]) : nil
        }
        for line in lines {
            guard !line.contains(13), !line.contains(10) else { throw NATSError(.protocolViolation, "a header line with a lone CR or LF") }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon != line.startIndex else {
                throw NATSError(.protocolViolation, "a header line without a name")
            }
            let name = line[line.startIndex..<colon]
            guard name.allSatisfy(NATSSubject.isTokenByte) else { throw NATSError(.protocolViolation, "a header name with spaces") }
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
    }

    public static func == (lhs: NATSHeaders, rhs: NATSHeaders) -> Bool {
        lhs.status == rhs.status && lhs.statusDescription == rhs.statusDescription && lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        for field in fields {
            hasher.combine(field.name)
            hasher.combine(field.value)
        }
    }
}
