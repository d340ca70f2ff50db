/// A container's id: 1 to 64 characters of `[A-Za-z0-9_-]`, starting with a letter or digit.
///
/// The id lands in unit names (`ctr-{id}.service`), file names and podman container names, so it admits nothing
/// that could mean something there: no dots, slashes, spaces, `%`, `@` or non-ASCII.
public struct ContainerID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public static let maxLength = 64

    /// Validates `rawValue`.
    public init(_ rawValue: String) throws(GearError) {
        guard Self.isValid(rawValue) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidID,
                "invalid container id '\(shown.debugEscaped)': use 1 to \(Self.maxLength) letters, digits, '_' or '-', starting with a letter or digit"
            )
        }
        self.rawValue = rawValue
    }

    static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...maxLength).contains(bytes.count), let first = bytes.first, first.isASCIIAlphanumeric else { return false }
        return bytes.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// The systemd unit of this container.
    public var unitName: String { "ctr-\(rawValue).service" }

    /// The podman container name.
    public var podmanName: String { "ctr-\(rawValue)" }

    /// The dynamic user (`DynamicUser=`) an exec-runtime container runs as: `ctr-{id}`, or for long ids a
    /// shortened name with a hash of the id, so that it stays a portable user name (at most 31 characters).
    public var execUserName: String {
        let plain = "ctr-\(rawValue)"
        if plain.utf8.count <= 31 { return plain }
        return "ctr-\(rawValue.prefix(13))-\(fingerprint(Array(rawValue.utf8)).prefix(12))"
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

    private init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// The id of a unit name `ctr-{id}.service`, if it is one.
    public static func fromUnitName(_ unit: String) -> ContainerID? {
        guard unit.hasPrefix("ctr-"), unit.hasSuffix(".service") else { return nil }
        return try? ContainerID(String(unit.dropFirst(4).dropLast(8)))
    }
}

/// A job id: the client's `X-Request-Id` (32 hex characters as in geard, or a UUID), or one geard makes.
public struct RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Validates a client-supplied id; hex letters are kept as given but compared case-insensitively.
    public init(_ rawValue: String) throws(GearError) {
        let lower = rawValue.lowercased()
        guard Self.isHex32(lower) || Self.isUUID(lower) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidRequestID, "invalid request id '\(shown.debugEscaped)': use 32 hexadecimal characters or a UUID")
        }
        self.rawValue = lower
    }

    private init(unchecked: String) { rawValue = unchecked }

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
