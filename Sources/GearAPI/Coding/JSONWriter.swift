public import Foundation

/// A fast JSON writer for the answers geard sends most (status, list, log lines): for status and list the same
/// bytes `GearJSON.encoder()` writes (sorted keys, RFC 3339 dates with milliseconds), at a fraction of the cost of
/// `JSONEncoder`.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        comma()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        comma()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key; the caller writes keys of an object in sorted order.
    public mutating func key(_ name: StaticString) {
        comma()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    /// A key that is not a literal (a dictionary's); the caller writes keys in sorted order.
    public mutating func key(dynamic name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { string(utf8: $0) }
    }

    /// A string given as bytes that are valid UTF-8 (the caller checks).
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        comma()
        bytes.append(UInt8(ascii: "\""))
        // Copy runs of bytes that need no escape at once; escape the rest one by one.
        var start = 0
        for i in 0..<utf8.count {
            let byte = utf8[i]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
            escape(byte)
            start = i + 1
        }
        if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Bytes written as they are, outside any JSON value (line breaks between NDJSON objects, SSE fields); the
    /// next value starts without a comma.
    /// (Concrete overloads: a generic one is not specialized across modules, and it runs per log line.)
    public mutating func raw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
        needsComma = false
    }

    public mutating func raw(_ value: String) {
        var value = value
        value.withUTF8 { bytes.append(contentsOf: $0) }
        needsComma = false
    }

    public mutating func raw(_ byte: UInt8) {
        bytes.append(byte)
        needsComma = false
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        default:
            bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0xF)])
        }
    }

    public mutating func int(_ value: some BinaryInteger) {
        comma()
        if let small = Int64(exactly: value) {
            if small < 0 { bytes.append(UInt8(ascii: "-")) }
            // Digits from the last, then turned around: no String per number.
            let start = bytes.count
            var magnitude = small.magnitude
            repeat {
                bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes[start...].reverse()
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
        needsComma = true
    }

    public mutating func double(_ value: Double) {
        comma()
        if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        comma()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    public mutating func date(_ value: Date) {
        timestamp(microseconds: GearJSON.milliseconds(value) * 1000, fractionDigits: 3)
    }

    /// An RFC 3339 UTC time with 3 or 6 fraction digits.
    public mutating func timestamp(microseconds: Int64, fractionDigits: Int) {
        comma()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.write(microseconds: microseconds, fractionDigits: fractionDigits, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Writes `key: value` only when `value` is not nil (as `JSONEncoder` leaves out nil optionals).
    public mutating func optional<T>(_ name: StaticString, _ value: T?, _ write: (inout JSONWriter, T) -> Void) {
        guard let value else { return }
        key(name)
        write(&self, value)
    }

    /// An object of string values, keys in sorted order (as `GearJSON.encoder()` writes a dictionary).
    public mutating func stringMap(_ map: [String: String]) {
        beginObject()
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            key(dynamic: name)
            string(value)
        }
        endObject()
    }

    private mutating func comma() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}

extension ContainerStatus {
    /// Writes this status as `GearJSON.encoder()` would (keys in sorted order, nil fields left out).
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.optional("activeSince", activeSince) { $0.date($1) }
        w.key("activeState")
        w.string(activeState)
        w.key("cmd")
        w.beginArray()
        for argument in cmd { w.string(argument) }
        w.endArray()
        w.optional("cpuLimit", cpuLimit) { $0.double($1) }
        w.optional("exitStatus", exitStatus) { $0.int($1) }
        w.optional("health", health) { $1.write(to: &$0) }
        w.key("id")
        w.string(id)
        w.optional("image", image) { $0.string($1) }
        w.optional("inactiveSince", inactiveSince) { $0.date($1) }
        w.optional("labels", labels) { $0.stringMap($1) }
        w.key("loadState")
        w.string(loadState)
        w.optional("mainPID", mainPID) { $0.int($1) }
        w.optional("memoryLimit", memoryLimit) { $0.int($1) }
        w.optional("networkLinks", networkLinks) { w, links in
            w.beginArray()
            for link in links {
                w.beginObject()
                w.optional("FromHost", link.fromHost) { $0.string($1) }
                w.key("FromPort")
                w.int(link.fromPort)
                w.optional("ToHost", link.toHost) { $0.string($1) }
                w.optional("ToPort", link.toPort) { $0.int($1) }
                w.endObject()
            }
            w.endArray()
        }
        w.key("ports")
        w.beginArray()
        for port in ports {
            w.beginObject()
            w.key("external")
            w.int(port.externalPort)
            w.key("internal")
            w.int(port.internalPort)
            w.endObject()
        }
        w.endArray()
        w.key("restartPolicy")
        w.string(restartPolicy)
        w.key("restarts")
        w.int(restarts)
        w.optional("result", result) { $0.string($1) }
        w.key("runtime")
        w.string(runtime)
        w.key("started")
        w.bool(started)
        w.key("subState")
        w.string(subState)
        w.key("unit")
        w.string(unit)
        w.key("volumes")
        w.beginArray()
        for volume in volumes {
            w.beginObject()
            w.key("name")
            w.string(volume.name)
            w.key("path")
            w.string(volume.path)
            w.key("readOnly")
            w.bool(volume.readOnly)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }
}

extension ContainerList {
    /// Writes this list as `GearJSON.encoder()` would.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("containers")
        w.beginArray()
        for container in containers { container.write(to: &w) }
        w.endArray()
        w.optional("orphanUnits", orphanUnits) { w, units in
            w.beginArray()
            for unit in units { w.string(unit) }
            w.endArray()
        }
        w.endObject()
    }
}
