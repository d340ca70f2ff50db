import Foundation
import GearAPI
import HTTPTypes
import Hummingbird
import NIOCore

/// Builds JSON and text answers.
enum JSONResponse {
    /// `value` as JSON (sorted keys, trailing newline so that curl output ends cleanly).
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        do {
            var data = try GearJSON.encoder().encode(value)
            data.append(UInt8(ascii: "\n"))
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            fields[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: .internalServerError, headers: fields, body: .init(byteBuffer: ByteBuffer(string: "cannot encode the answer: \(error)\n")))
        }
    }

    /// What a `JSONWriter` wrote, with the trailing newline `make` adds too.
    static func json(_ writer: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(writer.bytes.count + 1)
        buffer.writeBytes(writer.bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// JSON given as parts written one after the other, with the trailing newline.
    static func json(parts: [[UInt8]], status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(parts.reduce(1) { $0 + $1.count })
        for part in parts { buffer.writeBytes(part) }
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// Plain text.
    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text.hasSuffix("\n") || text.isEmpty ? text : text + "\n")))
    }

    /// True when the client prefers plain text: `?format=text`, or an `Accept` that names text/plain before any
    /// JSON type.
    static func wantsText(_ request: Request) -> Bool {
        if let format = request.uri.queryParameters.get("format") {
            return format == "text" || format == "plain"
        }
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        let text = accept.range(of: "text/plain")
        let json = accept.range(of: "application/json")
        guard let text else { return false }
        guard let json else { return true }
        return text.lowerBound < json.lowerBound
    }
}
