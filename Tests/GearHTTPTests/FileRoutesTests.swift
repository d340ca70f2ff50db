import Crypto
import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GearHTTP

/// File transfer in process over a real directory tree (the volume of an exec container, on an in-memory
/// systemd): atomic verified uploads, ranges and validators, and every way a path could leave the volume.
@Suite struct FileRoutesTests {
    let root: String
    let systemd: MemorySystemd
    var volume: String { root + "/state/volumes/web/data" }

    init() throws {
        root = NSTemporaryDirectory() + "gear-files-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    func withApp(
        limits: FileLimits = FileLimits(), _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd) { $0.fileLimits = limits }
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        try await app.test(.router) { client in
            let install = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Volumes":[{"Name":"data","Path":"/srv/data"}]}"#)
            try await client.execute(uri: "/container/web?wait=10", method: .put, body: install) { #expect($0.status == .ok) }
            try await test(client)
        }
    }

    static func sha256(_ text: String) -> String { Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString() }

    func entries(_ directory: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    @Test func uploadThenDownloadWithRangesAndValidators() async throws {
        try await withApp { client in
            let digest: HTTPFields = [HTTPField.Name("Content-Digest")!: "sha-256=:\(Self.sha256("hello, volume\n")):"]
            try await client.execute(
                uri: "/container/web/files/srv/data/a.txt", method: .put, headers: digest, body: ByteBuffer(string: "hello, volume\n")
            ) {
                #expect($0.status == .created)
                let result = try GearJSON.decoder().decode(UploadResult.self, from: Data($0.body.readableBytesView))
                #expect(result.created && result.file.size == 14 && result.file.path == "/srv/data/a.txt" && result.verified == ["sha-256"])
                #expect(result.file.mode == "0644")
            }
            #expect(try String(contentsOfFile: volume + "/a.txt", encoding: .utf8) == "hello, volume\n")
            var tag = ""
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "hello, volume\n")
                #expect($0.headers[.acceptRanges] == "bytes" && $0.headers[.lastModified]?.hasSuffix(" GMT") == true)
                tag = $0.headers[.eTag] ?? ""
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .head) {
                #expect($0.status == .ok && $0.headers[.contentLength] == "14" && $0.body.readableBytes == 0 && $0.headers[.eTag] == tag)
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.range: "bytes=7-"]) {
                #expect($0.status == .partialContent && String(buffer: $0.body) == "volume\n" && $0.headers[.contentRange] == "bytes 7-13/14")
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.range: "bytes=-3"]) {
                #expect($0.status == .partialContent && String(buffer: $0.body) == "me\n")
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.range: "bytes=0-1", .ifRange: "\"stale\""])
            {
                #expect($0.status == .ok && $0.body.readableBytes == 14)
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.range: "bytes=14-"]) {
                #expect($0.status == .rangeNotSatisfiable && $0.headers[.contentRange] == "bytes */14")
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.ifNoneMatch: tag]) {
                #expect($0.status == .notModified && $0.body.readableBytes == 0)
            }
            // Replacing keeps nothing of the old content; a mode header sets the permission bits.
            try await client.execute(
                uri: "/container/web/files/srv/data/a.txt", method: .put, headers: [HTTPField.Name("X-File-Mode")!: "0600"],
                body: ByteBuffer(string: "v2")
            ) {
                #expect($0.status == .ok)
                let result = try GearJSON.decoder().decode(UploadResult.self, from: Data($0.body.readableBytesView))
                #expect(!result.created && result.file.mode == "0600" && result.file.size == 2)
            }
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .get, headers: [.ifNoneMatch: tag]) {
                #expect($0.status == .ok && String(buffer: $0.body) == "v2")
            }
            #expect(try entries(volume) == ["a.txt"])
        }
    }

    @Test func aDigestMismatchStoresNothingAndKeepsTheOldFile() async throws {
        try await withApp { client in
            try await client.execute(uri: "/container/web/files/srv/data/a.txt", method: .put, body: ByteBuffer(string: "old")) {
                #expect($0.status == .created)
            }
            for header in [
                (HTTPField.Name("Content-Digest")!, "sha-256=:\(Self.sha256("something else")):"),
                (HTTPField.Name("Digest")!, "SHA-256=\(Self.sha256("something else"))"),
                (HTTPField.Name("Content-MD5")!, Data(Insecure.MD5.hash(data: Data("x".utf8))).base64EncodedString()),
            ] {
                try await client.execute(
                    uri: "/container/web/files/srv/data/a.txt", method: .put, headers: [header.0: header.1], body: ByteBuffer(string: "new")
                ) {
                    #expect($0.status == .badRequest)
                    let error = try GearJSON.decoder().decode(APIError.self, from: Data($0.body.readableBytesView))
                    #expect(error.error == "digest_mismatch", "\(header)")
                }
            }
            try await client.execute(
                uri: "/container/web/files/srv/data/a.txt", method: .put, headers: [HTTPField.Name("Content-Digest")!: "crc32=:AAAAAA==:"],
                body: ByteBuffer(string: "new")
            ) {
                #expect($0.status == .badRequest)
            }
            #expect(try String(contentsOfFile: volume + "/a.txt", encoding: .utf8) == "old")
            #expect(try entries(volume) == ["a.txt"])
        }
    }

    @Test(arguments: [
        ("/container/web/files/srv/data/..%2F..%2Fetc/passwd", 400, "invalid_request"),
        ("/container/web/files/srv/data/%2e%2e/%2e%2e/etc/passwd", 400, "invalid_request"),
        ("/container/web/files/srv/data/../x", 400, "invalid_request"),
        ("/container/web/files/srv/data/a%00b", 400, "invalid_request"),
        ("/container/web/files/srv/data/a%5Cb", 400, "invalid_request"),
        ("/container/web/files/srv/data/bad%zz", 400, "invalid_request"),
        ("/container/web/files/etc/passwd", 403, "forbidden"),
        ("/container/web/files/srv", 403, "forbidden"),
        ("/container/nope/files/srv/data/a", 404, "not_found"),
        ("/container/b%40d/files/srv/data/a", 400, "invalid_id"),
        ("/container/web/files/srv/data/missing/a", 404, "not_found"),
    ])
    func pathsOutsideAVolumeAreRefused(_ uri: String, _ status: Int, _ code: String) async throws {
        try await withApp { client in
            for method in [HTTPRequest.Method.get, .put, .delete] {
                try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "x")) {
                    #expect($0.status.code == status, "\(method) \(uri)")
                    let error = try GearJSON.decoder().decode(APIError.self, from: Data($0.body.readableBytesView))
                    #expect(error.error == code, "\(method) \(uri): \(error.message)")
                }
            }
            #expect(try entries(volume).isEmpty)
        }
    }

    @Test func symlinksAndSpecialFilesPlantedInTheVolumeAreNeverFollowedOrOpened() async throws {
        let outside = root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "secret".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
        try await withApp { client in
            try FileManager.default.createSymbolicLink(atPath: volume + "/escape", withDestinationPath: outside)
            try FileManager.default.createSymbolicLink(atPath: volume + "/link", withDestinationPath: outside + "/secret")
            try FileManager.default.createSymbolicLink(atPath: volume + "/inside", withDestinationPath: "sub")
            try FileManager.default.createDirectory(atPath: volume + "/sub", withIntermediateDirectories: true)
            #expect(mkfifo(volume + "/fifo", 0o644) == 0)
            for uri in ["escape/secret", "link", "inside/x", "escape"] {
                try await client.execute(uri: "/container/web/files/srv/data/" + uri, method: .get) {
                    #expect($0.status == .forbidden, "GET \(uri)")
                    #expect(String(buffer: $0.body).contains("symlink"))
                }
            }
            for uri in ["escape/secret", "escape/new", "inside/new"] {
                try await client.execute(uri: "/container/web/files/srv/data/" + uri, method: .put, body: ByteBuffer(string: "pwned")) {
                    #expect($0.status == .forbidden, "PUT \(uri)")
                }
                try await client.execute(uri: "/container/web/files/srv/data/" + uri, method: .delete) {
                    #expect($0.status == .forbidden, "DELETE \(uri)")
                }
            }
            try await client.execute(uri: "/container/web/files/srv/data/fifo", method: .get) {
                #expect($0.status == .forbidden && String(buffer: $0.body).contains("FIFO"))
            }
            // An upload to a symlink's name replaces the link itself, never what it points to.
            try await client.execute(uri: "/container/web/files/srv/data/link", method: .put, body: ByteBuffer(string: "mine")) {
                #expect($0.status == .ok)
            }
            #expect(try String(contentsOfFile: outside + "/secret", encoding: .utf8) == "secret")
            #expect(try String(contentsOfFile: volume + "/link", encoding: .utf8) == "mine")
            // Deleting a symlink removes the link, and a recursive delete never descends through one.
            try await client.execute(uri: "/container/web/files/srv/data/escape", method: .delete, headers: [:]) { #expect($0.status == .ok) }
            #expect(try entries(outside) == ["secret"])
        }
    }

    @Test func directoriesListCreateAndDelete() async throws {
        try await withApp { client in
            try await client.execute(uri: "/container/web/files/srv/data/logs/2026/a.log", method: .put, body: ByteBuffer(string: "x")) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/container/web/files/srv/data/logs/2026/a.log?parents=1", method: .put, body: ByteBuffer(string: "x")) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/container/web/files/srv/data/logs/2026/a.log", method: .put, body: ByteBuffer()) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/container/web/files/srv/data/logs", method: .put, body: ByteBuffer(string: "x")) {
                #expect($0.status == .conflict)
            }
            try await client.execute(uri: "/container/web/files/srv/data", method: .get) {
                let listing = try GearJSON.decoder().decode(DirectoryListing.self, from: Data($0.body.readableBytesView))
                #expect(listing.path == "/srv/data" && listing.entries.map(\.name) == ["logs"] && listing.entries[0].type == .directory)
            }
            try await client.execute(uri: "/container/web/files/srv/data/logs/2026", method: .get) {
                let listing = try GearJSON.decoder().decode(DirectoryListing.self, from: Data($0.body.readableBytesView))
                #expect(listing.entries.map(\.path) == ["/srv/data/logs/2026/a.log"] && listing.entries[0].size == 0)
            }
            try await client.execute(uri: "/container/web/files/srv/data/logs", method: .delete) { #expect($0.status == .conflict) }
            try await client.execute(uri: "/container/web/files/srv/data/logs?recursive=1", method: .delete) { #expect($0.status == .ok) }
            try await client.execute(uri: "/container/web/files/srv/data", method: .delete) { #expect($0.status == .forbidden) }
            #expect(try entries(volume).isEmpty)
        }
    }

    @Test func uploadsBeyondTheLimitsAreRefusedAndLeaveNothing() async throws {
        try await withApp(limits: FileLimits(maxUploadBytes: 1000, volumeSizeLimit: 1500)) { client in
            try await client.execute(uri: "/container/web/files/srv/data/big", method: .put, body: ByteBuffer(repeating: 1, count: 1001)) {
                #expect($0.status == .contentTooLarge)
                #expect(String(buffer: $0.body).contains("--max-upload-size"))
            }
            try await client.execute(uri: "/container/web/files/srv/data/a", method: .put, body: ByteBuffer(repeating: 1, count: 1000)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/container/web/files/srv/data/b", method: .put, body: ByteBuffer(repeating: 1, count: 600)) {
                #expect($0.status == .contentTooLarge)
                #expect(String(buffer: $0.body).contains("--volume-size-limit"))
            }
            // Replacing a file counts the room it frees.
            try await client.execute(uri: "/container/web/files/srv/data/a", method: .put, body: ByteBuffer(repeating: 2, count: 1000)) {
                #expect($0.status == .ok)
            }
            #expect(try entries(volume) == ["a"])
        }
    }

    @Test func headerParsing() throws {
        let sha = Data(SHA256.hash(data: Data("x".utf8)))
        let digests = try FileHeaders.digests([
            HTTPField.Name("Content-Digest")!:
                "sha-512=:\(Data(repeating: 1, count: 64).base64EncodedString()):, sha-256=:\(sha.base64EncodedString()):"
        ])
        #expect(digests.map(\.algorithm) == [.sha512, .sha256])
        #expect(throws: GearError.self) { try FileHeaders.digests([HTTPField.Name("Content-Digest")!: "sha-256=:AAAA:"]) }
        #expect(throws: GearError.self) { try FileHeaders.digests([HTTPField.Name("Content-Digest")!: "sha-256=abc"]) }
        #expect(try FileHeaders.range([.range: "bytes=0-99"], size: 10) == 0...9)
        #expect(try FileHeaders.range([.range: "bytes=0-1,4-5"], size: 10) == nil)
        #expect(try FileHeaders.range([.range: "lines=1-2"], size: 10) == nil)
        #expect(throws: GearError.self) { try FileHeaders.range([.range: "bytes=-0"], size: 10) }
        #expect(try FileHeaders.mode([HTTPField.Name("X-File-Mode")!: "750"]) == 0o750)
        for bad in ["4755", "8", "", "0o644", "07777"] {
            #expect(throws: GearError.self) { try FileHeaders.mode([HTTPField.Name("X-File-Mode")!: bad]) }
        }
        #expect(FileHeaders.httpDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(FileLimits.size("16G") == 16 << 30 && FileLimits.size("512KiB") == 512 << 10 && FileLimits.size("100") == 100)
        for bad in ["0", "-1", "1X", "G", "99999999999T"] { #expect(FileLimits.size(bad) == nil, "\(bad)") }
    }

    /// Records the batches `inBatches` hands on.
    final class Batches: @unchecked Sendable {
        let lock = NSLock()
        var sizes: [Int] = []
        var bytes: [UInt8] = []
        func add(_ batch: [ByteBuffer]) {
            lock.withLock {
                sizes.append(batch.reduce(0) { $0 + $1.readableBytes })
                for buffer in batch { bytes += buffer.readableBytesView }
            }
        }
    }

    static func body(_ parts: [ByteBuffer]) -> RequestBody {
        RequestBody(
            asyncSequence: AsyncStream { continuation in
                for part in parts { continuation.yield(part) }
                continuation.finish()
            })
    }

    @Test func uploadBodiesAreHandedOnInWholeBatchesOfAtMostAMegabyte() async throws {
        // Parts of uneven sizes, one larger than a batch, and each a slice of a larger buffer.
        var source: [UInt8] = []
        var parts: [ByteBuffer] = []
        for (index, size) in [1, 70_000, 300_000, 2_000_000, 5, 1_048_576, 123_456].enumerated() {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
            source += bytes
            var whole = ByteBuffer(bytes: [9, 9] + bytes + [9])
            whole.moveReaderIndex(forwardBy: 2)
            parts.append(whole.getSlice(at: 2, length: size)!)
        }
        let seen = Batches()
        try await FileRoutes.inBatches(Self.body(parts)) { seen.add($0) }
        #expect(seen.bytes == source)
        // Only the one part larger than a batch makes a larger one; every other batch fits in one megabyte.
        #expect(seen.sizes.filter { $0 > FileRoutes.writeBatch } == [2_000_000])
        #expect(seen.sizes.reduce(0, +) == source.count)

        struct DiskFull: Error {}
        await #expect(throws: DiskFull.self) {
            try await FileRoutes.inBatches(Self.body(parts)) { _ in throw DiskFull() }
        }
    }
}
