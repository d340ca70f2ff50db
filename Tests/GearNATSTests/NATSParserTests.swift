import NIOCore
import Testing

@testable import GearNATS

/// The broker's operations read from bytes as they come, and what a hostile or broken broker sends refused.
struct NATSParserTests {
    static let stream =
        "INFO {\"server_id\":\"S1\",\"version\":\"2.9.10\",\"max_payload\":1048576,\"tls_required\":true,\"headers\":true}\r\n"
        + "PING\r\npong\r\n+OK\r\nMSG gear.v1.req.node1.status 7 5\r\nhello\r\n"
        + "MSG a.b 8\t_INBOX.x.1   0\r\n\r\n"
        + "HMSG gear.v1.rep.orch.node1.r1 9 24 29\r\nNATS/1.0\r\nGear-Id: a\r\n\r\nworld\r\n"
        + "HMSG _INBOX.y 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        + "-ERR 'Permissions Violation for Publish to \"gear.v1.rep.orch.node2.r2\"'\r\n"

    static let expected: [NATSServerOperation] = [
        .info(NATSServerInfo(serverID: "S1", version: "2.9.10", maxPayload: 1_048_576, headers: true, tlsRequired: true)),
        .ping, .pong, .ok,
        .message(NATSMessage(subject: "gear.v1.req.node1.status", sid: 7, payload: Array("hello".utf8))),
        .message(NATSMessage(subject: "a.b", sid: 8, replyTo: "_INBOX.x.1", payload: [])),
        .message(
            NATSMessage(
                subject: "gear.v1.rep.orch.node1.r1", sid: 9, headers: NATSHeaders([("Gear-Id", "a")]), payload: Array("world".utf8))),
        .message(NATSMessage(subject: "_INBOX.y", sid: 3, headers: NATSHeaders(status: 503), payload: [])),
        .error("Permissions Violation for Publish to \"gear.v1.rep.orch.node2.r2\""),
    ]

    static func parseAll(_ chunks: [[UInt8]], parser: NATSParser = NATSParser()) throws -> [NATSServerOperation] {
        var buffer = ByteBuffer()
        var operations: [NATSServerOperation] = []
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let operation = try parser.parse(&buffer) { operations.append(operation) }
        }
        #expect(buffer.readableBytes == 0)
        return operations
    }

    @Test func operationsReadTheSameInOneChunkAndByteByByte() throws {
        let bytes = Array(Self.stream.utf8)
        #expect(try Self.parseAll([bytes]) == Self.expected)
        #expect(try Self.parseAll(bytes.map { [$0] }) == Self.expected)
        // Split at every point once.
        for cut in stride(from: 1, to: bytes.count, by: 7) {
            #expect(try Self.parseAll([Array(bytes[..<cut]), Array(bytes[cut...])]) == Self.expected)
        }
    }

    @Test func aPartialOperationIsNotConsumed() throws {
        var buffer = ByteBuffer(string: "MSG a 1 5\r\nhel")
        #expect(try NATSParser().parse(&buffer) == nil)
        #expect(buffer.readableBytes == 14)
        buffer.writeString("lo\r")
        #expect(try NATSParser().parse(&buffer) == nil)
        buffer.writeString("\n")
        #expect(try NATSParser().parse(&buffer) == .message(NATSMessage(subject: "a", sid: 1, payload: Array("hello".utf8))))
    }

    @Test(arguments: [
        ("MSG a 1 5\r\nhelloXY", "not followed by CRLF"),
        ("MSG a 1 2000000\r\n", "more than"),
        ("MSG a 1 -5\r\n", "not a number"),
        ("MSG a 1 0x10\r\n", "not a number"),
        ("MSG a 1\r\n", "arguments"),
        ("MSG a b c d e\r\n", "arguments"),
        ("MSG a x 1\r\nA\r\n", "subscription id"),
        ("HMSG a 1 10 5\r\n", "headers of 10 bytes in 5"),
        ("HMSG a 1 4 4\r\nABCD\r\n", "NATS/1.0"),
        ("HMSG a 1 13 13\r\nNATS/1.0\r\nX\r\n\r\n", "blank line"),
        ("INFO [1,2]\r\n", "INFO"),
        ("INFO {\"max_payload\":\"big\"}\r\n", "INFO"),
        ("PING extra\r\n", "arguments"),
        ("HELLO\r\n", "unknown operation"),
        ("\r\n", "unknown operation"),
    ])
    func badOperationsAreRefused(_ input: String, _ message: String) {
        var buffer = ByteBuffer(string: input)
        #expect {
            _ = try NATSParser(maxPayload: 1_000_000).parse(&buffer)
        } throws: { error in
            (error as? NATSError)?.code == .protocolViolation && "\(error)".contains(message)
        }
    }

    @Test func aLineLongerThanTheLimitIsRefusedBeforeItEnds() throws {
        let parser = NATSParser(maxLine: 64)
        var buffer = ByteBuffer(string: "INFO {" + String(repeating: "x", count: 50))
        #expect(throws: Never.self) { _ = try parser.parse(&buffer) }
        buffer.writeString(String(repeating: "x", count: 10))
        #expect(throws: NATSError(.protocolViolation, "")) { _ = try parser.parse(&buffer) }
        // A line of exactly the limit is read.
        var exact = ByteBuffer(string: "-ERR " + String(repeating: "e", count: 59) + "\r\n")
        #expect(try parser.parse(&exact) == .error(String(repeating: "e", count: 59)))
    }

    @Test func aMessageSubjectWithAControlByteIsRefused() {
        var buffer = ByteBuffer(bytes: Array("MSG a".utf8) + [0x01] + Array("b 1 0\r\n\r\n".utf8))
        #expect(throws: NATSError(.protocolViolation, "")) { _ = try NATSParser().parse(&buffer) }
    }
}
