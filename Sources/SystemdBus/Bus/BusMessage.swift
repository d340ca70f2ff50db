internal import CSystemd

/// Owns one `sd_bus_message` reference; lives and dies on the bus thread.
///
/// Messages are not thread-safe. A `BusMessage` is created, filled or read, and released inside one
/// work item of `BusConnection`'s thread; it never crosses to another thread.
final class BusMessage {
    let pointer: OpaquePointer

    /// Takes a reference to `pointer` (the caller keeps its own).
    init(retaining pointer: OpaquePointer) {
        self.pointer = pointer
        sd_bus_message_ref(pointer)
    }

    /// Adopts a reference the caller already owns.
    init(adopting pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        sd_bus_message_unref(pointer)
    }

    // MARK: writing

    /// Appends one value with its signature. The corresponding C functions are `sd_bus_message_append_basic`
    /// and `sd_bus_message_open_container`.
    func append(_ value: BusValue) throws(BusError) {
        switch value {
        case .byte(var v): try appendBasic("y", &v)
        case .bool(let b):
            var v: Int32 = b ? 1 : 0
            try appendBasic("b", &v)
        case .int16(var v): try appendBasic("n", &v)
        case .uint16(var v): try appendBasic("q", &v)
        case .int32(var v): try appendBasic("i", &v)
        case .uint32(var v): try appendBasic("u", &v)
        case .int64(var v): try appendBasic("x", &v)
        case .uint64(var v): try appendBasic("t", &v)
        case .double(var v): try appendBasic("d", &v)
        case .unixFD(var v): try appendBasic("h", &v)
        case .string(let s): try appendString("s", s)
        case .objectPath(let s): try appendString("o", s)
        case .signature(let s): try appendString("g", s)
        case .array(let element, let items):
            try withContainer("a", element) { () throws(BusError) in
                for item in items { try append(item) }
            }
        case .dictEntry(let key, let item):
            try withContainer("e", key.signature + item.signature) { () throws(BusError) in
                try append(key)
                try append(item)
            }
        case .structure(let fields):
            try withContainer("r", fields.map(\.signature).joined()) { () throws(BusError) in
                for field in fields { try append(field) }
            }
        case .variant(let inner):
            try withContainer("v", inner.signature) { () throws(BusError) in try append(inner) }
        }
    }

    private func appendBasic<T>(_ type: Unicode.Scalar, _ value: inout T) throws(BusError) {
        let r = withUnsafePointer(to: &value) { sd_bus_message_append_basic(pointer, CChar(type.value), $0) }
        try busCheck(r, "append \(type)")
    }

    private func appendString(_ type: Unicode.Scalar, _ value: String) throws(BusError) {
        let r = value.withCString { sd_bus_message_append_basic(pointer, CChar(type.value), $0) }
        try busCheck(r, "append \(type)")
    }

    private func withContainer(_ type: Unicode.Scalar, _ contents: String, _ body: () throws(BusError) -> Void) throws(BusError) {
        let r = contents.withCString { sd_bus_message_open_container(pointer, CChar(type.value), $0) }
        try busCheck(r, "open container \(type)\(contents)")
        try body()
        try busCheck(sd_bus_message_close_container(pointer), "close container")
    }

    // MARK: reading

    /// Reads every remaining value at the current level.
    func readAll() throws(BusError) -> [BusValue] {
        var values: [BusValue] = []
        while let value = try readValue() {
            values.append(value)
        }
        return values
    }

    /// Reads the next value, or nil at the end of the current container. The corresponding C functions are
    /// `sd_bus_message_peek_type`, `sd_bus_message_read_basic` and `sd_bus_message_enter_container`.
    func readValue() throws(BusError) -> BusValue? {
        var type: CChar = 0
        var contentsPointer: UnsafePointer<CChar>? = nil
        let r = try busCheck(sd_bus_message_peek_type(pointer, &type, &contentsPointer), "peek type")
        if r == 0 { return nil }
        let contents = contentsPointer.map { String(cString: $0) } ?? ""
        switch Unicode.Scalar(UInt8(bitPattern: type)) {
        case "y": return .byte(try readBasic(type, UInt8(0)))
        case "b": return .bool(try readBasic(type, Int32(0)) != 0)
        case "n": return .int16(try readBasic(type, Int16(0)))
        case "q": return .uint16(try readBasic(type, UInt16(0)))
        case "i": return .int32(try readBasic(type, Int32(0)))
        case "u": return .uint32(try readBasic(type, UInt32(0)))
        case "x": return .int64(try readBasic(type, Int64(0)))
        case "t": return .uint64(try readBasic(type, UInt64(0)))
        case "d": return .double(try readBasic(type, Double(0)))
        case "h": return .unixFD(try readBasic(type, Int32(0)))
        case "s": return .string(try readString(type))
        case "o": return .objectPath(try readString(type))
        case "g": return .signature(try readString(type))
        case "a":
            let items = try inContainer(type, contents) { () throws(BusError) in try readAll() }
            return .array(elementSignature: contents, items)
        case "r":
            return .structure(try inContainer(type, contents) { () throws(BusError) in try readAll() })
        case "e":
            let pair = try inContainer(type, contents) { () throws(BusError) in try readAll() }
            guard pair.count == 2 else { throw BusError(code: .unexpectedReply, message: "dict entry with \(pair.count) fields") }
            return .dictEntry(pair[0], pair[1])
        case "v":
            let inner = try inContainer(type, contents) { () throws(BusError) in try readValue() }
            guard let inner else { throw BusError(code: .unexpectedReply, message: "empty variant") }
            return .variant(inner)
        default:
            throw BusError(code: .unexpectedReply, message: "unsupported D-Bus type \(type)")
        }
    }

    /// Reads an `a{sv}` property dictionary, decoding only the names in `wanted` (all when nil) and skipping
    /// the rest without building values for them.
    func readProperties(wanted: Set<String>?) throws(BusError) -> [String: BusValue] {
        var result: [String: BusValue] = [:]
        try busCheck(sd_bus_message_enter_container(pointer, CChar(UInt8(ascii: "a")), "{sv}"), "enter a{sv}")
        while try busCheck(sd_bus_message_enter_container(pointer, CChar(UInt8(ascii: "e")), "sv"), "enter {sv}") > 0 {
            let name = try readString(CChar(UInt8(ascii: "s")))
            if wanted == nil || wanted!.contains(name) {
                if let value = try readValue() { result[name] = value.unwrapped }
            } else {
                try busCheck(sd_bus_message_skip(pointer, "v"), "skip property \(name)")
            }
            try busCheck(sd_bus_message_exit_container(pointer), "exit {sv}")
        }
        try busCheck(sd_bus_message_exit_container(pointer), "exit a{sv}")
        return result
    }

    private func readBasic<T>(_ type: CChar, _ initial: T) throws(BusError) -> T {
        var value = initial
        let r = withUnsafeMutablePointer(to: &value) { sd_bus_message_read_basic(pointer, type, $0) }
        try busCheck(r, "read basic")
        return value
    }

    private func readString(_ type: CChar) throws(BusError) -> String {
        var p: UnsafePointer<CChar>? = nil
        let r = withUnsafeMutablePointer(to: &p) { sd_bus_message_read_basic(pointer, type, $0) }
        try busCheck(r, "read string")
        return p.map { String(cString: $0) } ?? ""
    }

    private func inContainer<T>(_ type: CChar, _ contents: String, _ body: () throws(BusError) -> T) throws(BusError) -> T {
        try busCheck(contents.withCString { sd_bus_message_enter_container(pointer, type, $0) }, "enter container")
        let value = try body()
        try busCheck(sd_bus_message_exit_container(pointer), "exit container")
        return value
    }

    // MARK: header

    /// The D-Bus error carried by an error reply, if this is one.
    var error: BusError? {
        guard let e = sd_bus_message_get_error(pointer), e.pointee.name != nil else { return nil }
        let name = String(cString: e.pointee.name)
        let message = e.pointee.message.map { String(cString: $0) } ?? name
        return BusError(code: .remote, name: name, message: message)
    }

    var path: String? { sd_bus_message_get_path(pointer).map { String(cString: $0) } }
    var interface: String? { sd_bus_message_get_interface(pointer).map { String(cString: $0) } }
    var member: String? { sd_bus_message_get_member(pointer).map { String(cString: $0) } }
    var sender: String? { sd_bus_message_get_sender(pointer).map { String(cString: $0) } }

    var replyCookie: UInt64? {
        var cookie: UInt64 = 0
        return sd_bus_message_get_reply_cookie(pointer, &cookie) >= 0 ? cookie : nil
    }

    var cookie: UInt64? {
        var cookie: UInt64 = 0
        return sd_bus_message_get_cookie(pointer, &cookie) >= 0 ? cookie : nil
    }
}
