@testable import GearArchive

/// Tar archives as uploads bring them (`PUT /container/{id}/archive`) and as downloads write them.
enum ArchiveTargets {
    /// A stream in pieces of any size: events come as begin, data, end; a file's data is exactly its size; every
    /// name the name checks accept stays beneath the extraction directory.
    static func tarStream(_ input: [UInt8]) {
        guard let first = input.first else { return }
        let piece = Int(first) + 1
        var parser = TarStreamParser()
        var open: TarEntry?
        var received: Int64 = 0
        let body = Array(input.dropFirst())
        do {
            var at = 0
            while at < body.count {
                let end = min(body.count, at + piece)
                try body[at..<end].withUnsafeBytes { bytes in
                    try parser.consume(bytes) { event throws(ArchiveError) in
                        switch event {
                        case .begin(let entry):
                            if open != nil { violated("an entry began before the last one ended", input) }
                            open = entry
                            received = 0
                            checkName(entry.name, input)
                        case .data(let bytes):
                            guard open != nil else { violated("data outside an entry", input) }
                            received += Int64(bytes.count)
                        case .end:
                            guard let entry = open else { violated("an end without a begin", input) }
                            if received != entry.size { violated("entry \(entry.name) of \(entry.size) bytes gave \(received)", input) }
                            open = nil
                        }
                    }
                }
                at = end
            }
        } catch {
            return
        }
    }

    /// Whatever the name checks accept is a relative path of plain components.
    static func checkName(_ name: String, _ input: [UInt8]) {
        guard let components = try? TarName.components(name) else { return }
        for component in components {
            if component.isEmpty || component == "." || component == ".." || component.contains("/") || component.utf8.contains(0)
                || component.contains("\\")
            {
                violated("name \(name.debugDescription) passed with component \(component.debugDescription)", input)
            }
        }
        if components.count > TarName.maxDepth { violated("name \(name.debugDescription) passed deeper than the limit", input) }
    }

    /// What geard writes (downloads) reads back as the same entry and data, whatever its name and link.
    static func tarRoundTrip(_ input: [UInt8]) {
        guard input.count >= 9 else { return }
        let kind: TarEntry.Kind =
            switch input[0] % 7 {
            case 0: .file
            case 1: .directory
            case 2: .symlink
            case 3: .hardlink
            case 4: .other(UInt8(ascii: "3"))
            case 5: .other(UInt8(ascii: "4"))
            default: .other(UInt8(ascii: "6"))
            }
        let mode = (UInt32(input[1]) << 8 | UInt32(input[2])) & 0o7777
        let modified = Int64(UInt32(input[3]) << 24 | UInt32(input[4]) << 16 | UInt32(input[5]) << 8 | UInt32(input[6]))
        let size = kind == .file ? Int64(input[7]) * 9 : 0
        let strings = input[8...].split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        guard let name = String(validating: strings[0], as: UTF8.self), !name.isEmpty else { return }
        let link = strings.count > 1 ? String(validating: strings[1], as: UTF8.self) ?? "" : ""
        guard !link.utf8.contains(0) else { return }
        let entry = TarEntry(name: name, kind: kind, mode: mode, size: size, modified: modified, link: link)
        let data = (0..<Int(size)).map { UInt8(truncatingIfNeeded: $0) }
        var archive = TarHeader.blocks(for: entry) + data
        archive += [UInt8](repeating: 0, count: TarHeader.padding(Int(size)) + 2 * TarHeader.block)

        var parser = TarStreamParser()
        var read: [TarEntry] = []
        var readData: [UInt8] = []
        do {
            try archive.withUnsafeBytes { bytes in
                try parser.consume(bytes) { event in
                    switch event {
                    case .begin(let entry): read.append(entry)
                    case .data(let bytes): readData += bytes
                    case .end: break
                    }
                }
            }
        } catch {
            violated("geard's own archive of \(entry) does not parse: \(error)", input)
        }
        guard read == [entry], readData == data, parser.isComplete else {
            violated("wrote \(entry), read \(read) (\(readData.count) of \(data.count) data bytes)", input)
        }
    }

    /// pax extended header records.
    static func paxRecords(_ input: [UInt8]) {
        guard let records = try? TarHeader.paxRecords(input) else { return }
        for key in records.keys where key.contains("=") {
            violated("pax key \(key.debugDescription) holds '='", input)
        }
    }
}
