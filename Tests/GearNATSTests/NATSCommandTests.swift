import NIOCore
import Testing

@testable import GearNATS

/// What the client writes, byte for byte, and what it refuses to write: nothing a caller passes can end a protocol
/// line or add an argument.
struct NATSCommandTests {
    static func text(_ command: NATSCommand) -> String { String(buffer: command.bytes) }

    @Test func commandsAreWrittenAsTheProtocolSays() throws {
        #expect(Self.text(.publish(subject: "a.b", replyTo: nil, headers: nil, payload: Array("hi".utf8))) == "PUB a.b 2\r\nhi\r\n")
        #expect(Self.text(.publish(subject: "a.b", replyTo: "r.1", headers: nil, payload: [])) == "PUB a.b r.1 0\r\n\r\n")
        var headers = NATSHeaders()
        try headers.append("Gear-Id", "x")
        #expect(
            Self.text(.publish(subject: "a", replyTo: nil, headers: headers, payload: Array("yz".utf8)))
                == "HPUB a 24 26\r\nNATS/1.0\r\nGear-Id: x\r\n\r\nyz\r\n")
        #expect(Self.text(.subscribe(subject: "gear.v1.req.node1.>", queue: nil, sid: 4)) == "SUB gear.v1.req.node1.> 4\r\n")
        #expect(Self.text(.subscribe(subject: "a.*", queue: "workers", sid: 5)) == "SUB a.* workers 5\r\n")
        #expect(Self.text(.unsubscribe(sid: 5, after: nil)) == "UNSUB 5\r\n")
        #expect(Self.text(.unsubscribe(sid: 5, after: 1)) == "UNSUB 5 1\r\n")
        #expect(Self.text(.ping) == "PING\r\n" && Self.text(.pong) == "PONG\r\n")
        let connect = Self.text(.connect(NATSConnectOptions(name: "node1\r\nPUB x 1", tlsRequired: true)))
        #expect(connect.hasPrefix("CONNECT {") && connect.hasSuffix("}\r\n"))
        #expect(connect.utf8.filter { $0 == 10 }.count == 1, "a name cannot end the line: \(connect)")
        #expect(connect.contains(#""headers":true"#) && connect.contains(#""no_responders":true"#) && connect.contains(#""verbose":false"#))
    }

    @Test(arguments: [
        "", "a b", "a\r\nPUB x 1", "a\tb", "a..b", ".a", "a.", "a.*", "a.>", "a.b*", String(repeating: "a", count: 1025), "a\u{7F}", "é",
    ])
    func subjectsToPublishOnAreChecked(_ subject: String) {
        #expect(throws: NATSError(.invalidArgument, "")) { try NATSSubject.validatePublish(subject) }
    }

    @Test func subjectsToSubscribeToMayHoldWildcards() throws {
        for subject in ["a", "a.*.c", "a.>", "*", ">", "gear.v1.rep.orch.>", "_INBOX.x-y_z:1"] {
            try NATSSubject.validateSubscribe(subject)
        }
        for subject in ["a.>.c", "a.b>", "a.**", "a b", "a..b", ""] {
            #expect(throws: NATSError(.invalidArgument, "")) { try NATSSubject.validateSubscribe(subject) }
        }
        for queue in ["", "a.b", "a b", "*"] {
            #expect(throws: NATSError(.invalidArgument, "")) { try NATSSubject.validateQueue(queue) }
        }
    }

    @Test func headersRefuseWhatWouldEndTheirLineAndReadBack() throws {
        var headers = NATSHeaders()
        #expect(throws: NATSError(.invalidArgument, "")) { try headers.append("A: b", "c") }
        #expect(throws: NATSError(.invalidArgument, "")) { try headers.append("A", "b\r\nEvil: 1") }
        #expect(throws: NATSError(.invalidArgument, "")) { try headers.append("", "b") }
        try headers.append("Gear-Signature", "abc: def")
        try headers.append("Gear-Signature", "second")
        let read = try NATSHeaders(parsing: headers.encoded)
        #expect(read == headers)
        #expect(read["gear-signature"] == "abc: def")
    }

    @Test(arguments: [
        ("nats://127.0.0.1:4222", "127.0.0.1", 4222, false), ("tls://broker.example:7422", "broker.example", 7422, true),
        ("broker", "broker", 4222, false), ("[::1]:4333", "::1", 4333, false), ("tls://[fd00::1]", "fd00::1", 4222, true),
    ])
    func brokerAddressesAreRead(_ text: String, _ host: String, _ port: Int, _ tls: Bool) throws {
        #expect(try NATSServerAddress(parsing: text) == NATSServerAddress(host: host, port: port, requiresTLS: tls))
    }

    @Test(arguments: ["http://a:1", "a:0", "a:70000", "a:x", "", "user@a:1", "nats://", "a b:1"])
    func badBrokerAddressesAreRefused(_ text: String) {
        #expect(throws: NATSError(.invalidArgument, "")) { try NATSServerAddress(parsing: text) }
    }
}
