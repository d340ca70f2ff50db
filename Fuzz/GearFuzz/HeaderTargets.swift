import Foundation
import GearCore
import HTTPTypes

@testable import GearHTTP

/// The headers of file transfers: `Range`, digests, `X-File-Mode`, `Content-Length`.
enum HeaderTargets {
    /// Input: four bytes of file size, then `Name: value` lines. A range geard serves lies inside the file; a
    /// digest it accepts has its algorithm's length; a mode is permission bits.
    static func fileHeaders(_ input: [UInt8]) {
        guard input.count >= 4, let text = Array(input.dropFirst(4)).text else { return }
        let size = Int64(UInt32(input[0]) << 24 | UInt32(input[1]) << 16 | UInt32(input[2]) << 8 | UInt32(input[3]))
        var headers = HTTPFields()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { continue }
            headers.append(HTTPField(name: name, value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        if let range = try? FileHeaders.range(headers, size: size), !(range.lowerBound >= 0 && range.upperBound < size) {
            violated("range \(range) of a file of \(size) bytes", input)
        }
        if let digests = try? FileHeaders.digests(headers) {
            for digest in digests where digest.value.count != ExpectedDigest.length(of: digest.algorithm) {
                violated("a \(digest.algorithm) digest of \(digest.value.count) bytes", input)
            }
        }
        if let mode = try? FileHeaders.mode(headers), mode > 0o777 { violated("mode \(String(mode, radix: 8))", input) }
        if let length = try? FileHeaders.contentLength(headers), length < 0 { violated("Content-Length \(length)", input) }
    }
}
