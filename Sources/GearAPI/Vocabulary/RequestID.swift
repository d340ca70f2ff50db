/// A job id: the client's request id, or one geard makes. A client may send 32 hexadecimal characters or a UUID,
/// or 16 bytes in base64url, 22 characters unpadded or 24 with `==` (what geard's own client sends, e.g.
/// `-sF3yxGNFLDjxZeer_fP0A`; geard accepted all three). The job id is the canonical form: hex and UUIDs in lower
/// case, base64url as the 32 hexadecimal characters of its bytes, so that ids compare case-insensitively and
/// name files safely.
public struct RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Validates a client-supplied id.
    public init(_ rawValue: String) throws(GearError) {
        let lower = rawValue.lowercased()
        if Self.isHex32(lower) || Self.isUUID(lower) {
            self.rawValue = lower
        } else if let bytes = Self.base64URL16(rawValue) {
            self.rawValue = bytes.map { byte in String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16) }.joined()
        } else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidRequestID,
                "invalid request id '\(shown.debugEscaped)': use 32 hexadecimal characters, a UUID, or 16 bytes in base64url (22 characters, or 24 ending in ==)"
            )
        }
    }

    /// The 16 bytes of a base64url id of 22 characters, or 24 ending in `==`; nil for anything else.
    package static func base64URL16(_ text: String) -> [UInt8]? {
        var chars = Array(text.utf8)
        if chars.count == 24 {
            guard chars[22] == UInt8(ascii: "="), chars[23] == UInt8(ascii: "=") else { return nil }
            chars.removeLast(2)
        }
        guard chars.count == 22 else { return nil }
        var bits: UInt32 = 0
        var count = 0
        var bytes: [UInt8] = []
        for c in chars {
            let value: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
            bits = (bits << 6) | UInt32(value)
            count += 6
            if count >= 8 {
                count -= 8
                bytes.append(UInt8((bits >> UInt32(count)) & 0xFF))
            }
        }
        // 22 characters carry 132 bits: the 4 left over must be zero (a canonical encoding of 16 bytes).
        guard bytes.count == 16, bits & ((1 << UInt32(count)) - 1) == 0 else { return nil }
        return bytes
    }

    private init(unchecked: String) { rawValue = unchecked }

    /// The id of one part of a request that makes several jobs (purge, links): the same for the same request id
    /// and part, so that a retry names the same jobs.
    public func derived(for part: String) -> RequestID {
        let high = fnv1aFingerprint(Array("\(rawValue)/\(part)".utf8))
        let low = fnv1aFingerprint(Array("\(part)/\(rawValue)".utf8))
        return RequestID(unchecked: high + low)
    }

    /// A fresh random id of 32 hex characters.
    public static func random() -> RequestID {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return RequestID(unchecked: hex16(high) + hex16(low))
    }

    private static func hex16(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    package static func isHex32(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy(\.isHexDigit)
    }

    package static func isUUID(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard bytes.count == 36 else { return false }
        for (i, b) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                if b != UInt8(ascii: "-") { return false }
            } else if !b.isHexDigit {
                return false
            }
        }
        return true
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
