/// What went wrong talking to a NATS broker: a code to act on and a message for people.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure a caller tells apart.
    public enum Code: String, Sendable {
        /// A subject, queue group, header or payload the client refuses to send (it would break the protocol line
        /// or exceed a limit).
        case invalidArgument
        /// No connection to a broker right now (the client is reconnecting); nothing was sent.
        case notConnected
        /// The broker broke the protocol or a limit of ours: the connection is dropped and made again.
        case protocolViolation
        /// The broker refused a publish or a subscription (`-ERR 'Permissions Violation ...'`).
        case permissionViolation
        /// The broker refused the connection (`-ERR 'Authorization Violation'`, a TLS refusal).
        case authorization
        /// No answer in time (a flush, a connection's handshake).
        case timeout
        /// The client was shut down.
        case closed
        /// Any other refusal the broker sent (`-ERR`).
        case server
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "nats \(code.rawValue): \(message)" }
}

extension NATSError: Equatable {
    /// Errors are equal when their codes are.
    public static func == (lhs: NATSError, rhs: NATSError) -> Bool { lhs.code == rhs.code }
}
