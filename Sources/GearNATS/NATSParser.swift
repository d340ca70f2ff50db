import Foundation
public import NIOCore

/// Reads what a NATS broker sends, one operation at a time, from bytes as they arrive. Bounded: a protocol line is
/// at most `maxLine` bytes and a message's payload at most `maxPayload`, or the input is refused (the connection is
/// then dropped). Never consumes a partial operation.
public struct NATSParser: Sendable {
    /// The longest protocol line accepted (INFO included), without its CRLF.
    public var maxLine: Int
    /// The largest message (headers and payload) accepted.
    public var maxPayload: Int

    public init(maxLine: Int = 16 * 1024, maxPayload: Int = 1024 * 1024) {
        self.maxLine = maxLine
        self.maxPayload = maxPayload
    }

    /// The next whole operation in `buffer` (consumed), nil when more bytes are needed.
    public func parse(_ buffer: inout ByteBuffer) throws(NATSError) -> NATSServerOperation? {
        let view = buffer.readableBytesView
        guard let lineEnd = Self.lineEnd(view, limit: maxLine) else {
            if view.count > maxLine + 1 { throw NATSError(.protocolViolation, "a protocol line longer than \(maxLine) bytes") }
            return nil
        }
        let line = view[view.startIndex..<lineEnd]
        let consumedLine = lineEnd - view.startIndex + 2
        let opEnd = line.firstIndex { $0 == 0x20 || $0 == 0x09 } ?? line.endIndex
        let op = String(decoding: line[line.startIndex..<opEnd], as: UTF8.self).uppercased()
        let rest = line[opEnd...]
        switch op {
        case "PING", "PONG", "+OK":
            guard Self.arguments(rest).isEmpty else { throw NATSError(.protocolViolation, "\(op) with arguments") }
            buffer.moveReaderIndex(forwardBy: consumedLine)
            return op == "PING" ? .ping : op == "PONG" ? .pong : .ok
        case "-ERR":
            var text = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if text.count >= 2, text.hasPrefix("'"), text.hasSuffix("'") { text = String(text.dropFirst().dropLast()) }
            buffer.moveReaderIndex(forwardBy: consumedLine)
            return .error(text)
        case "INFO":
            let info: NATSServerInfo
            do {
                info = try JSONDecoder().decode(NATSServerInfo.self, from: Data(rest))
            } catch {
                throw NATSError(.protocolViolation, "an INFO that is not the JSON object expected: \(error)")
            }
            buffer.moveReaderIndex(forwardBy: consumedLine)
            return .info(info)
        case "MSG", "HMSG":
            let arguments = Self.arguments(rest)
            let headed = op == "HMSG"
            let counts = headed ? [4, 5] : [3, 4]
            guard counts.contains(arguments.count) else { throw NATSError(.protocolViolation, "\(op) with \(arguments.count) arguments") }
            let total = try size(arguments[arguments.count - 1], op)
            let headerSize = headed ? try size(arguments[arguments.count - 2], op) : 0
            guard headerSize <= total else { throw NATSError(.protocolViolation, "HMSG headers of \(headerSize) bytes in \(total)") }
            guard view.count >= consumedLine + total + 2 else { return nil }
            let subject = try Self.subject(arguments[0])
            guard let sid = UInt64(String(decoding: arguments[1], as: UTF8.self)), arguments[1].count <= 19 else {
                throw NATSError(.protocolViolation, "\(op) with a subscription id that is not a number")
            }
            let replied = arguments.count == counts[1]
            let replyTo = replied ? try Self.subject(arguments[2]) : nil
            let start = view.startIndex + consumedLine
            guard view[start + total] == 13, view[start + total + 1] == 10 else {
                throw NATSError(.protocolViolation, "\(op) payload not followed by CRLF")
            }
            let headers = headed ? try NATSHeaders(parsing: view[start..<start + headerSize]) : nil
            let payload = Array(view[start + headerSize..<start + total])
            buffer.moveReaderIndex(forwardBy: consumedLine + total + 2)
            return .message(NATSMessage(subject: subject, sid: sid, replyTo: replyTo, headers: headers, payload: payload))
        default:
            throw NATSError(.protocolViolation, "unknown operation \(NATSSubject.quoted(op))")
        }
    }

    /// A byte count: decimal digits, at most `maxPayload`.
    func size(_ token: ByteBufferView.SubSequence, _ op: String) throws(NATSError) -> Int {
        guard token.count <= 10, token.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(String(decoding: token, as: UTF8.self)) else {
            throw NATSError(.protocolViolation, "\(op) with a size that is not a number")
        }
        guard value <= maxPayload else { throw NATSError(.protocolViolation, "\(op) of \(value) bytes, more than \(maxPayload)") }
        return value
    }

    static func subject(_ token: ByteBufferView.SubSequence) throws(NATSError) -> String {
        guard token.count <= NATSSubject.maxLength, token.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw NATSError(.protocolViolation, "a subject of \(token.count) bytes or with control bytes")
        }
        return String(decoding: token, as: UTF8.self)
    }

    /// The arguments of a line: runs of bytes between spaces and tabs.
    static func arguments(_ rest: ByteBufferView.SubSequence) -> [ByteBufferView.SubSequence] {
        rest.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
    }

    /// Where the first CRLF starts, looking at most `limit` + 2 bytes in.
    static func lineEnd(_ view: ByteBufferView, limit: Int) -> ByteBufferView.Index? {
        var index = view.startIndex
        let end = view.index(view.startIndex, offsetBy: min(view.count, limit + 2))
        while index < end {
            if view[index] == 13 {
                guard index + 1 < view.endIndex else { return nil }
                if view[index + 1] == 10 { return index }
            }
            index += 1
        }
        return nil
    }
}

/// The parser as a NIO decoder: a channel's bytes in, the broker's operations out.
struct NATSDecoder: ByteToMessageDecoder {
    typealias InboundOut = NATSServerOperation
    var parser: NATSParser

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let operation = try parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(operation))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
