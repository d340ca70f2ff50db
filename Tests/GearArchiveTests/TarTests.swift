import Foundation
import GearAPI
import NIOCore
import Testing

@testable import GearArchive

#if canImport(Glibc)
    import Glibc
#endif

/// Tar reading and writing against GNU tar, and extraction that never leaves its directory.
@Suite struct TarTests {
    let base = NSTemporaryDirectory() + "gear-tar-\(UUID().uuidString)"

    init() throws {
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    }

    func directory(_ name: String) throws -> String {
        let path = base + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func sh(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Packs `name` in `parent` into bytes.
    func pack(_ parent: String, _ name: String?, as entryName: String, gzip: Bool = false) throws -> [UInt8] {
        let fd = open(parent, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let packer = try TarPacker(parent: fd, name: name, entryName: entryName, gzip: gzip)
        var bytes: [UInt8] = []
        while let chunk = try packer.next(size: 4096) { bytes += Array(chunk.readableBytesView) }
        return bytes
    }

    /// Extracts `bytes` (in pieces of `piece` bytes) into `target` below `root`.
    @discardableResult
    func extract(
        _ bytes: [UInt8], root: String, target: [String] = [], piece: Int = 1000, limit: Int64 = 1 << 30, strip: Int = 0
    ) throws -> ArchiveResult {
        let fd = open(root, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        var options = ExtractionOptions(limit: limit, limitReason: "the test's limit", shownTarget: "/t")
        options.createTarget = true
        options.stripComponents = strip
        let extractor = try TarExtractor(root: fd, target: target, options: options)
        do {
            var at = 0
            while at < bytes.count {
                let n = min(piece, bytes.count - at)
                try extractor.write(ByteBuffer(bytes: bytes[at..<(at + n)]))
                at += n
            }
            return try extractor.finish()
        } catch {
            extractor.abort()
            throw error
        }
    }

    /// Every path below `root` (without the root), with a type mark and file content.
    func tree(_ root: String) throws -> [String] {
        var result: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let full = root + "/" + path
            let attributes = try FileManager.default.attributesOfItem(atPath: full)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory: result.append(path + "/")
            case .typeSymbolicLink: result.append(path + " -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: full)))
            case .typeRegular: result.append(path + " = " + (try String(contentsOfFile: full, encoding: .utf8)))
            default: result.append(path + " ?")
            }
        }
        return result.sorted()
    }

    func makeSource() throws -> String {
        let source = try directory("source")
        let long = String(repeating: "long-component-", count: 8)
        try FileManager.default.createDirectory(atPath: "\(source)/app/\(long)/deeper", withIntermediateDirectories: true)
        try "hello\n".write(toFile: "\(source)/app/hello.txt", atomically: true, encoding: .utf8)
        try String(repeating: "x", count: 70_000).write(toFile: "\(source)/app/\(long)/deeper/big.txt", atomically: true, encoding: .utf8)
        try "".write(toFile: "\(source)/app/empty", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(source)/app/link", withDestinationPath: "/etc/passwd")
        chmod("\(source)/app/hello.txt", 0o4755)
        mkfifo("\(source)/app/fifo", 0o644)
        return source
    }

    @Test(arguments: [false, true])
    func whatIsPackedExtractsTheSameAndGNUTarReadsIt(_ gzip: Bool) throws {
        let source = try makeSource()
        let bytes = try pack(source, "app", as: "app", gzip: gzip)
        let file = base + "/out.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let listing = try sh("tar -t\(gzip ? "z" : "")f \(file)")
        #expect(listing.contains("app/hello.txt") && listing.contains("deeper/big.txt") && !listing.contains("fifo"), "\(listing)")
        let gnu = try directory("gnu")
        #expect(try sh("tar -x\(gzip ? "z" : "")f \(file) -C \(gnu) && echo ok").hasSuffix("ok\n"))

        let target = try directory("target")
        let result = try extract(bytes, root: target, piece: 777)
        #expect(try tree(target) == (try tree(gnu)))
        #expect(try tree(target).contains("app/link -> /etc/passwd"))
        #expect(result.files == 3 && result.symlinks == 1 && result.directories == 3 && result.bytes == 70_006, "\(result)")
        // Set-id bits are dropped; the mode otherwise kept.
        var info = stat()
        stat("\(target)/app/hello.txt", &info)
        #expect(info.st_mode & 0o7777 == 0o755)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["app"])  // no staging left
    }

    @Test(arguments: ["gnu", "pax", "ustar"])
    func archivesOfGNUTarExtract(_ format: String) throws {
        let source = try makeSource()
        unlink("\(source)/app/fifo")
        let file = base + "/gnu.tar"
        _ = try sh("cd \(source) && tar --format=\(format) -cf \(file) app 2>&1")
        let target = try directory("target")
        try extract(Array(try Data(contentsOf: URL(fileURLWithPath: file))), root: target)
        let gnu = try directory("gnu")
        _ = try sh("tar -xf \(file) -C \(gnu)")
        #expect(try tree(target) == (try tree(gnu)))
    }

    static func entry(_ name: String, _ kind: TarEntry.Kind = .file, content: String = "", link: String = "") -> [UInt8] {
        var bytes = TarHeader.blocks(
            for: TarEntry(name: name, kind: kind, mode: 0o644, size: Int64(content.utf8.count), modified: 1_700_000_000, link: link))
        bytes += Array(content.utf8)
        bytes += [UInt8](repeating: 0, count: TarHeader.padding(content.utf8.count))
        return bytes
    }

    static let end = [UInt8](repeating: 0, count: 1024)

    @Test(
        arguments: [
            ([entry("../evil", content: "x")], ArchiveError.Kind.invalid),
            ([entry("/etc/evil", content: "x")], .invalid),
            ([entry("a/../../evil", content: "x")], .invalid),
            ([entry("a\\b", content: "x")], .invalid),
            // A symlink out, then a file through it.
            ([entry("l", .symlink, link: "/etc"), entry("l/evil", content: "x")], .forbidden),
            ([entry("l", .symlink, link: "../.."), entry("l/evil", content: "x")], .forbidden),
            // Hard links out of the archive.
            ([entry("h", .hardlink, link: "/etc/passwd")], .invalid),
            ([entry("h", .hardlink, link: "../outside")], .invalid),
            ([entry("h", .hardlink, link: "not-in-the-archive")], .invalid),
            ([entry("dev", .other(UInt8(ascii: "3")))], .invalid),
            ([entry("fifo", .other(UInt8(ascii: "6")))], .invalid),
            ([entry("d", .directory), entry("d", content: "x")], .conflict),
        ] as [([[UInt8]], ArchiveError.Kind)])
    func hostileEntriesAreRefusedAndNothingIsExtracted(_ entries: [[UInt8]], _ kind: ArchiveError.Kind) throws {
        let root = try directory("root")
        try "before".write(toFile: "\(root)/kept", atomically: true, encoding: .utf8)
        let target = try directory("root/target")
        _ = target
        let bytes = [Self.entry("first-ok", content: "fine")] + entries + [Self.end]
        #expect(throws: ArchiveError.self) { try extract(bytes.flatMap { $0 }, root: root, target: ["target"]) }
        do {
            try extract(bytes.flatMap { $0 }, root: root, target: ["target"])
        } catch let error as ArchiveError {
            #expect(error.kind == kind, "\(error)")
        }
        #expect(try tree(root) == ["kept = before", "target/"])
        #expect(!FileManager.default.fileExists(atPath: base + "/evil") && !FileManager.default.fileExists(atPath: base + "/outside"))
    }

    @Test func aCutOffOrOversizedArchiveLeavesNothing() throws {
        let root = try directory("root")
        let whole = Self.entry("a", content: String(repeating: "y", count: 5000)) + Self.end
        #expect(throws: ArchiveError.self) { try extract(Array(whole.prefix(3000)), root: root) }
        #expect(throws: ArchiveError.self) { try extract(whole, root: root, limit: 4000) }
        #expect(throws: ArchiveError.self) {
            try extract(Array("not a tar archive at all, really not".utf8) + [UInt8](repeating: 1, count: 600), root: root)
        }
        #expect(try tree(root).isEmpty)
        #expect(try extract(whole, root: root, limit: 5000).bytes == 5000)
    }

    @Test func itMergesIntoWhatIsThereAndReplacesSymlinksWithoutFollowingThem() throws {
        let root = try directory("root")
        let outside = try directory("outside")
        try "old".write(toFile: "\(root)/a", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(root)/d", withIntermediateDirectories: true)
        try "keep".write(toFile: "\(root)/d/old", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/planted", withDestinationPath: outside)
        let bytes =
            Self.entry("a", content: "new") + Self.entry("d/new", content: "added") + Self.entry("planted/f", content: "inside")
            + Self.entry("dup", content: "first") + Self.entry("dup", content: "second") + Self.entry("hl", .hardlink, link: "dup") + Self.end
        let result = try extract(bytes, root: root)
        #expect(
            try tree(root) == ["a = new", "d/", "d/new = added", "d/old = keep", "dup = second", "hl = second", "planted/", "planted/f = inside"])
        #expect(try tree(outside).isEmpty)
        #expect(result.hardlinks == 1 && result.entries == 6)
        // A file of the archive where the tree has a directory: refused before anything moves.
        #expect(throws: ArchiveError.self) {
            try extract(Self.entry("a", content: "again") + Self.entry("d", content: "file") + Self.end, root: root)
        }
        #expect(try String(contentsOfFile: "\(root)/a", encoding: .utf8) == "new")
    }

    @Test func stripComponentsAndLongNames() throws {
        let root = try directory("root")
        let long = String(repeating: "n", count: 200) + "/" + String(repeating: "m", count: 150)
        try extract(Self.entry("top/" + long, content: "deep") + Self.end, root: root, strip: 1)
        #expect(try String(contentsOfFile: "\(root)/\(long)", encoding: .utf8) == "deep")
    }

    @Test func namesAreChecked() throws {
        #expect(try TarName.components("./a//b/./c/") == ["a", "b", "c"])
        #expect(try TarName.components(".") == [])
        for bad in ["/abs", "a/../b", "..", "a\\b", String(repeating: "x", count: 300)] {
            #expect(throws: ArchiveError.self) { try TarName.components(bad) }
        }
    }

    // Found by `make fuzz` (Fuzz/GearFuzz): each trapped (overflow) before it was refused.
    @Test func sizesNearInt64MaxAreRefusedNotTrapped() throws {
        // A pax record whose length, added to where it starts, overflows.
        #expect(throws: ArchiveError.self) { try TarHeader.paxRecords(Array("5 a=\n9223372036854775807 x=\n".utf8)) }
        // A directory whose pax size is Int64.max: its data would be skipped with the padding added.
        let directory = TarHeader.blocks(for: TarEntry(name: "d", kind: .directory, mode: 0o755, size: Int64.max, modified: 0, link: ""))
        var parser = TarStreamParser()
        #expect(throws: ArchiveError.self) {
            try directory.withUnsafeBytes { bytes in try parser.consume(bytes) { _ throws(ArchiveError) in } }
        }
    }
}
