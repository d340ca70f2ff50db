import GearNATS
import NIOCore

/// What a broker sends, read by the NATS client's parser.
enum NATSTargets {
    /// Input: the first byte picks a chunk size, the rest is what the broker sent. The operations read are the same
    /// whatever the chunking; each parse consumes whole operations or nothing; a message is within the payload
    /// bound; its headers read back as themselves once written.
    static func stream(_ input: [UInt8]) {
        guard let first = input.first else { return }
        let bytes = Array(input.dropFirst())
        let parser = NATSParser(maxLine: 512, maxPayload: 4096)
        let whole = parse(bytes, chunk: max(1, bytes.count), parser)
        let chunked = parse(bytes, chunk: Int(first % 16) + 1, parser)
        if whole.operations != chunked.operations || whole.failed != chunked.failed {
            violated("chunks of \(Int(first % 16) + 1) read \(chunked) where the whole read \(whole)", input)
        }
        for case .message(let message) in whole.operations {
            if message.payload.count + (message.headers?.encoded.count ?? 0) > 4096 + 64 {
                violated("a message of \(message.payload.count) bytes", input)
            }
            if message.subject.utf8.contains(where: { $0 <= 0x20 }) { violated("a subject with a space or control byte", input) }
            if let headers = message.headers, (try? NATSHeaders(parsing: headers.encoded)) != headers {
                violated("headers \(headers) do not read back", input)
            }
        }
    }

    static func parse(_ bytes: [UInt8], chunk: Int, _ parser: NATSParser) -> (operations: [NATSServerOperation], failed: Bool) {
        var buffer = ByteBuffer()
        var operations: [NATSServerOperation] = []
        var offset = 0
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<min(bytes.count, offset + chunk)])
            offset += chunk
            do {
                while true {
                    let before = buffer.readableBytes
                    guard let operation = try parser.parse(&buffer) else {
                        if buffer.readableBytes != before { violated("a parse that needed more bytes consumed some", bytes) }
                        break
                    }
                    if buffer.readableBytes >= before { violated("an operation read from no bytes", bytes) }
                    operations.append(operation)
                }
            } catch {
                return (operations, true)
            }
        }
        return (operations, false)
    }
}
