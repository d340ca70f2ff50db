import Foundation

/// One entry of a tar archive as its headers describe it (ustar, with pax and GNU long-name extensions).
public struct TarEntry: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case file, directory, symlink, hardlink
        /// Character or block devices, FIFOs, and anything else: never extracted.
        case other(UInt8)
    }

    /// The name as the archive gives it (before any check).
    public var name: String
    public var kind: Kind
    public var mode: UInt32
    public var size: Int64
    /// Seconds since the epoch.
    public var modified: Int64
    /// The target of a symlink or hardlink, as given.
    public var link: String

    public init(name: String, kind: Kind, mode: UInt32, size: Int64, modified: Int64, link: String = "") {
        self.name = name
        self.kind = kind
        self.mode = mode
        self.size = size
        self.modified = modified
        self.link = link
    }
}

/// Reading and writing tar headers: 512-byte blocks of fixed fields, numbers in octal (or GNU's base-256 for
/// large ones), a checksum; longer names and sizes in pax extended headers (`x`) or GNU long-name entries (`L`/`K`).
public enum TarHeader {
    static let block = 512

    // Field offsets and lengths of the ustar header.
    static let name = (0, 100), mode = (100, 8), uid = (108, 8), gid = (116, 8), size = (124, 12), mtime = (136, 12)
    static let checksum = (148, 8), type = 156, linkname = (157, 100), magic = (257, 6), version = (263, 2)
    static let uname = (265, 32), gname = (297, 32), prefix = (345, 155)

    /// What one header block says, before extensions are applied.
    struct Raw {
        var type: UInt8
        var name: String
        var link: String
        var mode: UInt32
        var size: Int64
        var modified: Int64
    }

    static func isZero(_ block: UnsafeRawBufferPointer) -> Bool {
        block.allSatisfy { $0 == 0 }
    }

    /// Parses a (non-zero) header block.
    static func parse(_ block: UnsafeRawBufferPointer) throws(ArchiveError) -> Raw {
        precondition(block.count == Self.block)
        var sum: Int64 = 0
        for (i, byte) in block.enumerated() { sum += (checksum.0..<(checksum.0 + checksum.1)).contains(i) ? 32 : Int64(byte) }
        guard let stored = number(block, checksum), stored == sum else {
            throw ArchiveError(.invalid, "the archive is not a tar archive (a header's checksum does not match)")
        }
        guard let mode = number(block, mode), let size = number(block, size), size >= 0, let modified = number(block, mtime) else {
            throw ArchiveError(.invalid, "the archive has a header with a malformed number")
        }
        var name = string(block, name)
        if block[magic.0..<(magic.0 + 5)].elementsEqual("ustar".utf8) {
            let prefix = string(block, prefix)
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        return Raw(
            type: block[type], name: name, link: string(block, linkname), mode: UInt32(truncatingIfNeeded: mode), size: size, modified: modified)
    }

    /// A NUL-terminated field as UTF-8 (invalid bytes replaced; the name checks refuse what matters).
    private static func string(_ block: UnsafeRawBufferPointer, _ field: (Int, Int)) -> String {
        let slice = UnsafeRawBufferPointer(rebasing: block[field.0..<(field.0 + field.1)])
        let end = slice.firstIndex(of: 0) ?? slice.count
        return String(decoding: slice[0..<end], as: UTF8.self)
    }

    /// An octal field (spaces and NULs around it), or GNU's base-256 form (high bit of the first byte set).
    static func number(_ block: UnsafeRawBufferPointer, _ field: (Int, Int)) -> Int64? {
        let slice = UnsafeRawBufferPointer(rebasing: block[field.0..<(field.0 + field.1)])
        if let first = slice.first, first & 0x80 != 0 {
            guard first == 0x80 else { return nil }  // negative numbers: refused
            var value: Int64 = 0
            for byte in slice.dropFirst() {
                guard value <= (Int64.max >> 8) else { return nil }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        var seenDigit = false
        for byte in slice {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard value <= (Int64.max >> 3) else { return nil }
                value = value << 3 | Int64(byte - UInt8(ascii: "0"))
                seenDigit = true
            case UInt8(ascii: " "), 0:
                if seenDigit { return value }
            default:
                return nil
            }
        }
        return seenDigit ? value : 0
    }

    /// The records of a pax extended header: `LENGTH KEY=VALUE\n`.
    static func paxRecords(_ data: [UInt8]) throws(ArchiveError) -> [String: String] {
        var records: [String: String] = [:]
        var at = 0
        while at < data.count {
            guard let space = data[at...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: data[at..<space], as: UTF8.self)), length > space - at + 1, length <= data.count - at,
                data[at + length - 1] == UInt8(ascii: "\n")
            else {
                if data[at...].allSatisfy({ $0 == 0 }) { break }
                throw ArchiveError(.invalid, "the archive has a malformed pax header")
            }
            let record = data[(space + 1)..<(at + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw ArchiveError(.invalid, "the archive has a malformed pax record") }
            records[String(decoding: record[..<eq], as: UTF8.self)] = String(decoding: record[(eq + 1)...], as: UTF8.self)
            at += length
        }
        return records
    }

    // MARK: writing

    /// The header blocks of an entry: a pax extended header first when a name, link or size does not fit ustar.
    static func blocks(for entry: TarEntry, uid: UInt32 = 0, gid: UInt32 = 0) -> [UInt8] {
        var pax: [(String, String)] = []
        let (prefix, name) = split(entry.name)
        if name == nil { pax.append(("path", entry.name)) }
        if entry.link.utf8.count > 100 { pax.append(("linkpath", entry.link)) }
        if entry.size > 0o77777777777 { pax.append(("size", String(entry.size))) }
        var out: [UInt8] = []
        if !pax.isEmpty {
            var body: [UInt8] = []
            for (key, value) in pax { body += record(key, value) }
            let shortName =
                String(("PaxHeaders/" + (entry.name.split(separator: "/").last.map(String.init) ?? "x")).utf8.prefix(99)) ?? "PaxHeaders/x"
            out += header(
                name: shortName, prefix: "", type: UInt8(ascii: "x"), mode: 0o644, size: Int64(body.count), modified: entry.modified, link: "",
                uid: 0, gid: 0)
            out += body
            out += [UInt8](repeating: 0, count: padding(body.count))
        }
        let type: UInt8 =
            switch entry.kind {
            case .file: UInt8(ascii: "0")
            case .directory: UInt8(ascii: "5")
            case .symlink: UInt8(ascii: "2")
            case .hardlink: UInt8(ascii: "1")
            case .other(let byte): byte
            }
        let fitted = name ?? String(entry.name.utf8.suffix(100)) ?? ""
        out += header(
            name: fitted, prefix: name == nil ? "" : prefix, type: type, mode: entry.mode, size: min(entry.size, 0o77777777777),
            modified: entry.modified,
            link: String(entry.link.utf8.prefix(100)) ?? "", uid: uid, gid: gid)
        return out
    }

    /// Splits a name into ustar's prefix (155) and name (100) at a slash; nil name when it cannot fit.
    private static func split(_ name: String) -> (String, String?) {
        let bytes = Array(name.utf8)
        if bytes.count <= 100 { return ("", name) }
        for i in stride(from: min(bytes.count - 1, 155), to: 0, by: -1) where bytes[i] == UInt8(ascii: "/") {
            if bytes.count - i - 1 <= 100 && bytes.count - i - 1 > 0 {
                return (String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
            }
        }
        return ("", nil)
    }

    private static func record(_ key: String, _ value: String) -> [UInt8] {
        let payload = " \(key)=\(value)\n".utf8.count
        var length = payload + String(payload).count
        if String(length).count != String(payload).count { length = payload + String(length).count }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    static func padding(_ size: Int) -> Int {
        (block - size % block) % block
    }

    private static func header(
        name: String, prefix: String, type: UInt8, mode: UInt32, size: Int64, modified: Int64, link: String, uid: UInt32, gid: UInt32
    ) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.block)
        func put(_ bytes: [UInt8], _ field: (Int, Int)) {
            for (i, byte) in bytes.prefix(field.1).enumerated() { block[field.0 + i] = byte }
        }
        func octal(_ value: Int64, _ field: (Int, Int)) {
            let digits = String(value, radix: 8)
            put(Array((String(repeating: "0", count: max(0, field.1 - 1 - digits.count)) + digits).utf8), field)
        }
        put(Array(name.utf8), Self.name)
        octal(Int64(mode & 0o7777), Self.mode)
        octal(Int64(uid), Self.uid)
        octal(Int64(gid), Self.gid)
        octal(size, Self.size)
        octal(max(0, modified), Self.mtime)
        block[Self.type] = type
        put(Array(link.utf8), linkname)
        put(Array("ustar\0".utf8), magic)
        put(Array("00".utf8), version)
        put(Array(prefix.utf8), Self.prefix)
        put(Array(repeating: UInt8(ascii: " "), count: 8), checksum)
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(Array((String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8) + [0, UInt8(ascii: " ")], checksum)
        return block
    }
}
