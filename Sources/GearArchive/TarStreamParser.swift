/// Reads a tar stream as it arrives, in pieces of any size: each entry's header (pax and GNU long-name
/// extensions applied), its data, its end, then the end of the archive. It holds one header block and one
/// extension body at most, never an entry's data.
public struct TarStreamParser: Sendable {
    public enum Event {
        case begin(TarEntry)
        /// Data of the current entry (valid only during the call).
        case data(UnsafeRawBufferPointer)
        case end
    }

    private enum State: Equatable {
        case header
        case data(remaining: Int64, padding: Int)
        case skip(Int64)
        case meta(type: UInt8, remaining: Int, padding: Int)
        case done
    }

    /// Extension bodies (pax headers, long names) larger than this are refused.
    public static let maxExtension = 1 << 20

    private var state = State.header
    private var header: [UInt8] = []
    private var extensionBody: [UInt8] = []
    private var pendingPath: String?
    private var pendingLink: String?
    private var pendingSize: Int64?
    private var pendingModified: Int64?
    private var zeroBlocks = 0
    public private(set) var entries = 0

    public init() {}

    /// True when the stream may end here: after the end-of-archive blocks, or between entries.
    public var isComplete: Bool {
        state == .done || (state == .header && header.isEmpty && entries > 0 && pendingPath == nil && pendingLink == nil)
    }

    public mutating func consume(_ input: UnsafeRawBufferPointer, _ handle: (Event) throws(ArchiveError) -> Void) throws(ArchiveError) {
        var at = 0
        while at < input.count {
            switch state {
            case .done:
                return  // what follows the end blocks (padding to a record) is ignored
            case .header:
                let n = min(TarHeader.block - header.count, input.count - at)
                header.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[at..<(at + n)]))
                at += n
                if header.count == TarHeader.block { try headerComplete(handle) }
            case .data(let remaining, let padding):
                let n = Int(min(remaining, Int64(input.count - at)))
                try handle(.data(UnsafeRawBufferPointer(rebasing: input[at..<(at + n)])))
                at += n
                if remaining - Int64(n) == 0 {
                    try handle(.end)
                    state = padding > 0 ? .skip(Int64(padding)) : .header
                } else {
                    state = .data(remaining: remaining - Int64(n), padding: padding)
                }
            case .skip(let remaining):
                let n = Int(min(remaining, Int64(input.count - at)))
                at += n
                state = remaining - Int64(n) == 0 ? .header : .skip(remaining - Int64(n))
            case .meta(let type, let remaining, let padding):
                let n = min(remaining, input.count - at)
                extensionBody.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[at..<(at + n)]))
                at += n
                if remaining - n == 0 {
                    try extensionComplete(type)
                    state = padding > 0 ? .skip(Int64(padding)) : .header
                } else {
                    state = .meta(type: type, remaining: remaining - n, padding: padding)
                }
            }
        }
    }

    private mutating func headerComplete(_ handle: (Event) throws(ArchiveError) -> Void) throws(ArchiveError) {
        defer { header.removeAll(keepingCapacity: true) }
        let parsed = header.withUnsafeBytes { block -> Result<TarHeader.Raw?, ArchiveError> in
            if TarHeader.isZero(block) { return .success(nil) }
            do throws(ArchiveError) {
                return .success(try TarHeader.parse(block))
            } catch {
                return .failure(error)
            }
        }
        guard let raw = try parsed.get() else {
            zeroBlocks += 1
            if zeroBlocks == 2 { state = .done }
            return
        }
        zeroBlocks = 0
        let size = pendingSize ?? raw.size
        // A size of (nearly) Int64.max, possible in base-256 and pax, would overflow with its padding added.
        guard size <= Int64.max - Int64(TarHeader.block) else { throw ArchiveError(.invalid, "the archive has an entry of \(size) bytes") }
        let padding = TarHeader.padding(Int(size % Int64(TarHeader.block)))
        switch raw.type {
        case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
            guard raw.size <= Self.maxExtension else { throw ArchiveError(.invalid, "the archive has an extension header of \(raw.size) bytes") }
            extensionBody.removeAll(keepingCapacity: true)
            state = raw.size == 0 ? .header : .meta(type: raw.type, remaining: Int(raw.size), padding: TarHeader.padding(Int(raw.size)))
            return
        default:
            break
        }
        let kind: TarEntry.Kind =
            switch raw.type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): .file
            case UInt8(ascii: "5"): .directory
            case UInt8(ascii: "2"): .symlink
            case UInt8(ascii: "1"): .hardlink
            default: .other(raw.type)
            }
        let entry = TarEntry(
            name: pendingPath ?? raw.name, kind: kind, mode: raw.mode, size: kind == .file ? size : 0, modified: pendingModified ?? raw.modified,
            link: pendingLink ?? raw.link)
        pendingPath = nil
        pendingLink = nil
        pendingSize = nil
        pendingModified = nil
        entries += 1
        try handle(.begin(entry))
        if kind == .file && size > 0 {
            state = .data(remaining: size, padding: padding)
        } else {
            try handle(.end)
            // Data of entries that hold none (a directory with a size): skipped.
            state = size > 0 ? .skip(size + Int64(padding)) : .header
        }
    }

    private mutating func extensionComplete(_ type: UInt8) throws(ArchiveError) {
        switch type {
        case UInt8(ascii: "x"):
            let records = try TarHeader.paxRecords(extensionBody)
            if let path = records["path"] { pendingPath = path }
            if let link = records["linkpath"] { pendingLink = link }
            if let text = records["size"] {
                guard let size = Int64(text), size >= 0 else { throw ArchiveError(.invalid, "the archive has a malformed pax size") }
                pendingSize = size
            }
            if let text = records["mtime"], let seconds = Double(text), seconds.isFinite, abs(seconds) < 1e15 { pendingModified = Int64(seconds) }
        case UInt8(ascii: "L"), UInt8(ascii: "K"):
            let end = extensionBody.firstIndex(of: 0) ?? extensionBody.count
            let text = String(decoding: extensionBody[..<end], as: UTF8.self)
            if type == UInt8(ascii: "L") { pendingPath = text } else { pendingLink = text }
        default:
            break  // global pax headers ('g') change nothing geard uses
        }
    }
}
