import Foundation
import GearAPI
import GearCore
import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// The headers of file transfer: digests (RFC 9530 and older), byte ranges (RFC 9110), file modes, dates.
enum FileHeaders {
    static let contentDigest = HTTPField.Name("Content-Digest")!
    static let reprDigest = HTTPField.Name("Repr-Digest")!
    static let legacyDigest = HTTPField.Name("Digest")!
    static let contentMD5 = HTTPField.Name("Content-MD5")!
    static let fileMode = HTTPField.Name("X-File-Mode")!

    /// Every digest the request announces for its body: `Content-Digest`/`Repr-Digest: sha-256=:B64:` (RFC 9530),
    /// `Digest: SHA-256=B64` (RFC 3230) and `Content-MD5: B64`. A header that names only algorithms geard does not
    /// compute is refused, so that a client never believes an unchecked upload was checked.
    static func digests(_ headers: HTTPFields) throws(GearError) -> [ExpectedDigest] {
        var result: [ExpectedDigest] = []
        func add(_ algorithm: ExpectedDigest.Algorithm, _ encoded: Substring, header: String) throws(GearError) {
            guard let value = Data(base64Encoded: String(encoded)), value.count == ExpectedDigest.length(of: algorithm) else {
                throw GearError(
                    .invalidRequest, "\(header): the \(algorithm.rawValue) value is not \(ExpectedDigest.length(of: algorithm)) base64-encoded bytes")
            }
            let digest = ExpectedDigest(algorithm: algorithm, value: Array(value))
            if let same = result.first(where: { $0.algorithm == algorithm }), same != digest {
                throw GearError(.invalidRequest, "\(header): two different \(algorithm.rawValue) digests for one body")
            }
            if !result.contains(digest) { result.append(digest) }
        }
        for name in [contentDigest, reprDigest] {
            for field in headers[values: name] {
                var known = false
                for member in field.split(separator: ",") {
                    let parts = member.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else {
                        throw GearError(.invalidRequest, "\(name): expected algorithm=:base64:, got '\(member.prefix(80))'")
                    }
                    let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                    var value = parts[1].trimmingCharacters(in: .whitespaces)[...]
                    if let semicolon = value.firstIndex(of: ";") { value = value[..<semicolon] }
                    guard value.count >= 2, value.first == ":", value.last == ":" else {
                        throw GearError(.invalidRequest, "\(name): the \(key) value must be a byte sequence, :base64:")
                    }
                    guard let algorithm = ExpectedDigest.Algorithm(rawValue: key), algorithm != .md5 else { continue }
                    try add(algorithm, value.dropFirst().dropLast(), header: name.canonicalName)
                    known = true
                }
                if !known { throw GearError(.invalidRequest, "\(name) names no algorithm geard checks; use sha-256 or sha-512") }
            }
        }
        for field in headers[values: legacyDigest] {
            var known = false
            for member in field.split(separator: ",") {
                let parts = member.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw GearError(.invalidRequest, "Digest: expected ALGORITHM=base64, got '\(member.prefix(80))'") }
                let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                let value = parts[1].trimmingCharacters(in: .whitespaces)[...]
                guard let algorithm = ExpectedDigest.Algorithm(rawValue: key) else { continue }
                try add(algorithm, value, header: "Digest")
                known = true
            }
            if !known { throw GearError(.invalidRequest, "Digest names no algorithm geard checks; use SHA-256, SHA-512 or MD5") }
        }
        if let md5 = headers[contentMD5] {
            try add(.md5, md5.trimmingCharacters(in: .whitespaces)[...], header: "Content-MD5")
        }
        return result
    }

    /// `X-File-Mode: 0640`: permission bits in octal; set-id and sticky bits are refused.
    static func mode(_ headers: HTTPFields) throws(GearError) -> UInt32? {
        guard let text = headers[fileMode] else { return nil }
        guard (1...4).contains(text.count), let mode = UInt32(text, radix: 8), mode <= 0o777 else {
            throw GearError(.invalidRequest, "X-File-Mode must be octal permission bits from 0 to 0777, not '\(text.prefix(20))'")
        }
        return mode
    }

    /// The announced body length, if any.
    static func contentLength(_ headers: HTTPFields) throws(GearError) -> Int64? {
        guard let text = headers[.contentLength] else { return nil }
        guard let length = Int64(text), length >= 0 else { throw GearError(.invalidRequest, "Content-Length is not a number") }
        return length
    }

    /// A single byte range of a file of `size` bytes, resolved: nil when the request asks for no range or one
    /// geard serves whole (several ranges, or a syntax it does not know: RFC 9110 lets a server ignore those).
    /// Throws `rangeNotSatisfiable` for a range that starts beyond the end.
    static func range(_ headers: HTTPFields, size: Int64) throws(GearError) -> ClosedRange<Int64>? {
        guard let text = headers[.range]?.trimmingCharacters(in: .whitespaces), text.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = text.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int64(last), suffix >= 0 else { return nil }
            guard suffix > 0, size > 0 else { throw GearError(.rangeNotSatisfiable, "the range \(text) selects no bytes of \(size)") }
            return max(0, size - suffix)...(size - 1)
        }
        guard let start = Int64(first), start >= 0 else { return nil }
        let end: Int64
        if last.isEmpty {
            end = size - 1
        } else {
            guard let value = Int64(last), value >= start else { return nil }
            end = min(value, size - 1)
        }
        guard start < size else { throw GearError(.rangeNotSatisfiable, "the range \(text) starts beyond the end of the file (\(size) bytes)") }
        return start...end
    }

    /// An HTTP date (RFC 9110 IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
