import Foundation
public import NIOCore

/// What this client sends a broker, each written as one protocol operation. Subjects, queue groups and headers are
/// checked when a command is made (`NATSSubject`, `NATSHeaders.append`), so none can add a line or an argument.
public enum NATSCommand: Sendable, Hashable {
    case connect(NATSConnectOptions)
    case publish(subject: String, replyTo: String?, headers: NATSHeaders?, payload: [UInt8])
    case subscribe(subject: String, queue: String?, sid: UInt64)
    case unsubscribe(sid: UInt64, after: Int?)
    case ping
    case pong

    /// Writes the command's bytes.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .connect(let options):
            buffer.writeString("CONNECT ")
            buffer.writeBytes(options.json)
            buffer.writeString("\r\n")
        case .publish(let subject, let replyTo, let headers, let payload):
            let reply = replyTo.map { " " + $0 } ?? ""
            if let headers {
                let block = headers.encoded
                buffer.writeString("HPUB \(subject)\(reply) \(block.count) \(block.count + payload.count)\r\n")
                buffer.writeBytes(block)
            } else {
                buffer.writeString("PUB \(subject)\(reply) \(payload.count)\r\n")
            }
            buffer.writeBytes(payload)
            buffer.writeString("\r\n")
        case .subscribe(let subject, let queue, let sid):
            buffer.writeString("SUB \(subject)\(queue.map { " " + $0 } ?? "") \(sid)\r\n")
        case .unsubscribe(let sid, let after):
            buffer.writeString("UNSUB \(sid)\(after.map { " \($0)" } ?? "")\r\n")
        case .ping:
            buffer.writeString("PING\r\n")
        case .pong:
            buffer.writeString("PONG\r\n")
        }
    }

    /// The command's bytes in a new buffer.
    public var bytes: ByteBuffer {
        var buffer = ByteBuffer()
        write(into: &buffer)
        return buffer
    }
}

/// The options of `CONNECT`: quiet (no `+OK`), headers and no-responder statuses on, echo of one's own messages as
/// asked.
public struct NATSConnectOptions: Sendable, Hashable, Encodable {
    public var verbose = false
    public var pedantic = false
    public var tlsRequired: Bool
    public var name: String
    public var lang = "swift"
    public var version = "gear"
    public var `protocol` = 1
    public var echo = true
    public var headers = true
    public var noResponders = true

    public init(name: String, tlsRequired: Bool, echo: Bool = true) {
        self.name = name
        self.tlsRequired = tlsRequired
        self.echo = echo
    }

    enum CodingKeys: String, CodingKey {
        case verbose, pedantic, name, lang, version, `protocol`, echo, headers
        case tlsRequired = "tls_required"
        case noResponders = "no_responders"
    }

    /// The options as one line of JSON (JSONEncoder escapes control characters, so a name cannot end the line).
    var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}
