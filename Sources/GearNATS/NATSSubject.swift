/// The rules for subjects and queue groups this client sends: dot-separated tokens of printable ASCII with no space,
/// so that nothing a caller passes can end the protocol line or add an argument to it.
public enum NATSSubject {
    /// The longest subject the client sends or accepts, in bytes.
    public static let maxLength = 1024

    /// Checks a subject to publish on: no wildcard tokens.
    public static func validatePublish(_ subject: String) throws(NATSError) {
        try validate(subject, wildcards: false)
    }

    /// Checks a subject to subscribe to: `*` may stand for one token, `>` for the rest as the last token.
    public static func validateSubscribe(_ subject: String) throws(NATSError) {
        try validate(subject, wildcards: true)
    }

    /// Checks a queue group name: one token, no wildcard.
    public static func validateQueue(_ queue: String) throws(NATSError) {
        guard !queue.isEmpty, queue.utf8.count <= 128, queue.utf8.allSatisfy({ isTokenByte($0) && !".*>".utf8.contains($0) }) else {
            throw NATSError(.invalidArgument, "queue group \(quoted(queue)): one token of printable ASCII, no wildcard")
        }
    }

    static func validate(_ subject: String, wildcards: Bool) throws(NATSError) {
        let bytes = Array(subject.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength else {
            throw NATSError(.invalidArgument, "subject of \(bytes.count) bytes: 1 to \(maxLength)")
        }
        let tokens = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for (index, token) in tokens.enumerated() {
            guard !token.isEmpty else { throw NATSError(.invalidArgument, "subject \(quoted(subject)) has an empty token") }
            guard token.allSatisfy(isTokenByte) else {
                throw NATSError(.invalidArgument, "subject \(quoted(subject)): printable ASCII without spaces only")
            }
            let wildcard = token.elementsEqual([UInt8(ascii: "*")]) || token.elementsEqual([UInt8(ascii: ">")])
            if token.contains(UInt8(ascii: "*")) || token.contains(UInt8(ascii: ">")) {
                guard wildcards else { throw NATSError(.invalidArgument, "subject \(quoted(subject)): no wildcard in a subject to publish on") }
                guard wildcard else { throw NATSError(.invalidArgument, "subject \(quoted(subject)): a wildcard is a token of its own") }
                if token.first == UInt8(ascii: ">") && index != tokens.count - 1 {
                    throw NATSError(.invalidArgument, "subject \(quoted(subject)): > only as the last token")
                }
            }
        }
    }

    /// Printable ASCII but space and DEL (the broker splits arguments on whitespace).
    static func isTokenByte(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }

    static func quoted(_ value: String) -> String {
        let shown = value.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "?" }.joined()
        return "\"\(shown)\(value.unicodeScalars.count > 80 ? "..." : "")\""
    }
}
