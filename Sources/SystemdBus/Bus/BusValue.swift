/// A D-Bus value, as appended to or read from an sd-bus message.
///
/// Arrays carry their element signature so that an empty array can still be written.
public indirect enum BusValue: Sendable, Hashable {
    case byte(UInt8)
    case bool(Bool)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(String)
    case signature(String)
    case unixFD(Int32)
    case array(elementSignature: String, [BusValue])
    case dictEntry(BusValue, BusValue)
    case structure([BusValue])
    case variant(BusValue)

    /// The D-Bus type signature of this value.
    public var signature: String {
        switch self {
        case .byte: "y"
        case .bool: "b"
        case .int16: "n"
        case .uint16: "q"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .unixFD: "h"
        case .array(let element, _): "a" + element
        case .dictEntry(let key, let value): "{" + key.signature + value.signature + "}"
        case .structure(let fields): "(" + fields.map(\.signature).joined() + ")"
        case .variant: "v"
        }
    }

    /// An array of strings (`as`).
    public static func strings(_ values: [String]) -> BusValue {
        .array(elementSignature: "s", values.map(BusValue.string))
    }
}

extension BusValue {
    /// The value with any variant wrapping removed.
    public var unwrapped: BusValue {
        if case .variant(let inner) = self { return inner.unwrapped }
        return self
    }

    /// The string of a `s`, `o` or `g` value.
    public var string: String? {
        switch unwrapped {
        case .string(let s), .objectPath(let s), .signature(let s): s
        default: nil
        }
    }

    /// The value of a `b`.
    public var bool: Bool? {
        if case .bool(let b) = unwrapped { return b }
        return nil
    }

    /// Any integer value widened to `Int64`, when it fits.
    public var integer: Int64? {
        switch unwrapped {
        case .byte(let v): Int64(v)
        case .int16(let v): Int64(v)
        case .uint16(let v): Int64(v)
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        case .uint64(let v): v <= UInt64(Int64.max) ? Int64(v) : nil
        case .unixFD(let v): Int64(v)
        default: nil
        }
    }

    /// The value of a `t` (also used by systemd for "infinity" as `UInt64.max`).
    public var uint64: UInt64? {
        switch unwrapped {
        case .uint64(let v): v
        case .uint32(let v): UInt64(v)
        default: nil
        }
    }

    /// The elements of an array, or the fields of a structure.
    public var elements: [BusValue]? {
        switch unwrapped {
        case .array(_, let items): items
        case .structure(let fields): fields
        default: nil
        }
    }
}
