import Foundation

/// A container's id: 1 to 64 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit (geard's ids,
/// `[a-zA-Z0-9.-]{4,24}`, are among them when they start so).
///
/// The id lands in unit names (`ctr-{id}.service`), file names and podman container names, so it admits nothing
/// that could mean something there: no slashes, spaces, `%`, `@` or non-ASCII, and since it starts with a letter
/// or digit it is never `.`, `..`, a hidden file or an option.
public struct ContainerID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public static let maxLength = 64

    /// Validates `rawValue`.
    public init(_ rawValue: String) throws(GearError) {
        guard Self.isValid(rawValue) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidID,
                "invalid container id '\(shown.debugEscaped)': use 1 to \(Self.maxLength) letters, digits, '_', '.' or '-', starting with a letter or digit"
            )
        }
        self.rawValue = rawValue
    }

    static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...maxLength).contains(bytes.count), let first = bytes.first, first.isASCIIAlphanumeric else { return false }
        return bytes.allSatisfy(isIDByte)
    }

    static func isIDByte(_ byte: UInt8) -> Bool {
        byte.isASCIIAlphanumeric || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// The systemd unit of this container.
    public var unitName: String { "ctr-\(rawValue).service" }

    /// The podman container name.
    public var podmanName: String { "ctr-\(rawValue)" }

    /// The dynamic user (`DynamicUser=`) an exec-runtime container runs as: `ctr-{id}`, or for long ids a
    /// shortened name with a hash of the id, so that it stays a portable user name (at most 31 characters).
    /// A dot is no part of a portable user name: an id with one takes the shortened form too.
    public var execUserName: String {
        let plain = "ctr-\(rawValue)"
        if plain.utf8.count <= 31 && !rawValue.contains(".") { return plain }
        let prefix = String(rawValue.prefix(13)).replacingOccurrences(of: ".", with: "-")
        return "ctr-\(prefix)-\(fingerprint(Array(rawValue.utf8)).prefix(12))"
    }

    public var description: String { rawValue }

    public static func < (lhs: ContainerID, rhs: ContainerID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The lane image imports run in, one after the other: no container can have this id (ids start with a letter
    /// or digit).
    static let imageLane = ContainerID(unchecked: "_images")

    /// The lane of run job `id`: each run job has its own.
    static func runLane(_ id: String) -> ContainerID { ContainerID(unchecked: "_run-" + id) }

    /// The job id of a run lane.
    var runJobID: String? { rawValue.hasPrefix("_run-") ? String(rawValue.dropFirst(5)) : nil }
    var isRunLane: Bool { rawValue.hasPrefix("_run-") }
    /// A lane that is no container (image imports, runs).
    var isInternalLane: Bool { rawValue.hasPrefix("_") }

    private init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// The id of a unit name `ctr-{id}.service`, if it is one.
    public static func fromUnitName(_ unit: String) -> ContainerID? {
        guard unit.hasPrefix("ctr-"), unit.hasSuffix(".service") else { return nil }
        return try? ContainerID(String(unit.dropFirst(4).dropLast(8)))
    }
}

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
    static func base64URL16(_ text: String) -> [UInt8]? {
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
        let high = fingerprint(Array("\(rawValue)/\(part)".utf8))
        let low = fingerprint(Array("\(part)/\(rawValue)".utf8))
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

    static func isHex32(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy(\.isHexDigit)
    }

    static func isUUID(_ s: String) -> Bool {
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

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }

    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}

extension StringProtocol {
    /// The string with control characters and quotes escaped, for quoting user input in messages.
    var debugEscaped: String {
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
