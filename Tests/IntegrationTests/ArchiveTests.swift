import Foundation
import GearAPI
import GearClient
import Testing

/// Tar streams in and out of real containers' volumes (curl and GNU tar as the clients), hostile archives built
/// with Python's tarfile refused with nothing written anywhere, and image archives imported into podman.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct ArchiveTests {
    let work: String

    init() throws {
        work = "/var/tmp/gear-archive-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    /// A podman container with a volume at /data, running; answers its id.
    func installWithVolume(_ geard: GeardProcess, _ prefix: String) async throws -> String {
        let id = uniqueID(prefix)
        let request = InstallRequest(
            image: "localhost/busybox", cmd: ["sleep", "1000"], started: true, volumes: [VolumeRequest(name: "data", path: "/data")])
        #expect(try await geard.client.install(id, request, wait: 90).job.state == .succeeded)
        return id
    }

    func put(_ geard: GeardProcess, _ id: String, _ file: String, path: String, query: String = "") throws -> CurlAnswer {
        try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)/archive?path=\(path)\(query)",
            headers: [("Content-Type", "application/x-tar")], options: "--data-binary @\(file)")
    }

    @Test func aTreeGoesInAndComesBackOutAsTar() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installWithVolume(geard, "arch")
        let source = "\(work)/source/app"
        let long = String(repeating: "long-name-", count: 12)
        #expect(
            try sh(
                "mkdir -p \(source)/\(long)/deep && echo hello > \(source)/hello.txt && head -c 300000 /dev/urandom > \(source)/\(long)/deep/blob && ln -s hello.txt \(source)/link && chmod 0750 \(source)/\(long)"
            ).status == 0)
        #expect(try sh("tar -C \(work)/source -cf \(work)/app.tar app && tar -C \(work)/source -czf \(work)/app.tgz app").status == 0)

        let answer = try put(geard, id, "\(work)/app.tar", path: "/data/in", query: "&parents=1")
        #expect(answer.status == 200, "\(answer.body)")
        let result = try answer.decode(ArchiveResult.self)
        #expect(
            result.path == "/data/in" && result.files == 2 && result.symlinks == 1 && result.directories == 3 && result.bytes == 300_006, "\(result)")
        // The container sees it, with the modes the archive gave.
        #expect(try sh("podman exec ctr-\(id) cat /data/in/app/hello.txt").output == "hello\n")
        #expect(try sh("podman exec ctr-\(id) readlink /data/in/app/link").output == "hello.txt\n")
        #expect(try sh("podman exec ctr-\(id) stat -c %a /data/in/app/\(long)").output == "750\n")

        // Out again, plain and gzip; GNU tar reads both and finds the same tree.
        let base = "http://127.0.0.1:\(geard.port)/container/\(id)/archive?path=/data/in/app"
        #expect(try sh("curl -sf -o \(work)/out.tar '\(base)' && curl -sf -o \(work)/out.tgz '\(base)&gzip=1'").status == 0)
        #expect(try sh("curl -sf --compressed -o \(work)/coded.tar '\(base)' && cmp \(work)/out.tar \(work)/coded.tar").status == 0)
        for (file, flags) in [("out.tar", "-xf"), ("out.tgz", "-xzf")] {
            let into = "\(work)/check-\(file)"
            #expect(
                try sh("mkdir -p \(into) && tar -C \(into) \(flags) \(work)/\(file) && diff -r --no-dereference \(source) \(into)/app").status == 0,
                "\(file)")
        }
        // A gzip'd archive goes in too (recognized by its first bytes).
        let gzipped = try put(geard, id, "\(work)/app.tgz", path: "/data/in2", query: "&parents=1")
        #expect(gzipped.status == 200, "\(gzipped.body)")
        #expect(try sh("podman exec ctr-\(id) cat /data/in2/app/hello.txt").output == "hello\n")
        _ = try await geard.client.delete(id, wait: 60)
    }

    /// Writes a tar built by Python's tarfile: each entry `(name, kind, target)`.
    func hostile(_ name: String, _ entries: [(String, String, String)]) throws -> String {
        let file = "\(work)/\(name).tar"
        var script = "import tarfile, io\nt = tarfile.open('\(file)', 'w', format=tarfile.PAX_FORMAT)\n"
        script += "def add(name, kind, target):\n    i = tarfile.TarInfo(name); i.mode = 0o644\n"
        script += "    if kind == 'file':\n        data = b'pwned'; i.size = len(data); t.addfile(i, io.BytesIO(data)); return\n"
        script +=
            "    i.type = {'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE, 'chr': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE, 'dir': tarfile.DIRTYPE}[kind]\n"
        script += "    i.linkname = target; t.addfile(i)\n"
        script += "add('ok.txt', 'file', '')\n"
        for (entry, kind, target) in entries { script += "add(\(String(reflecting: entry)), '\(kind)', \(String(reflecting: target)))\n" }
        script += "t.close()\n"
        try script.write(toFile: "\(work)/\(name).py", atomically: true, encoding: .utf8)
        let built = try sh("python3 \(work)/\(name).py")
        #expect(built.status == 0, "\(built.output)")
        return file
    }

    @Test func hostileArchivesAreRefusedAndWriteNothingAnywhere() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installWithVolume(geard, "evil")
        #expect(try sh("podman exec ctr-\(id) sh -c 'mkdir -p /data/t && echo keep > /data/t/kept && ln -s /etc /data/t/planted'").status == 0)
        let cases: [(String, [(String, String, String)], String)] = [
            ("dotdot", [("../../../../../../etc/gear-evil", "file", "")], "'..'"),
            ("absolute", [("/etc/gear-evil", "file", "")], "absolute"),
            ("symlink-then-write", [("out", "symlink", "/etc"), ("out/gear-evil", "file", "")], "symlink"),
            ("hardlink-out", [("h", "hardlink", "/etc/passwd")], "absolute"),
            ("hardlink-up", [("h", "hardlink", "../../../etc/passwd")], "'..'"),
            ("device", [("dev", "chr", "")], "device"),
            ("fifo", [("pipe", "fifo", "")], "FIFO"),
        ]
        let before = try sh("find \(geard.stateDir)/volumes/\(id) | sort").output
        for (name, entries, message) in cases {
            let file = try hostile(name, entries)
            let answer = try put(geard, id, file, path: "/data/t")
            #expect(answer.status == 400 || answer.status == 403, "\(name): \(answer.status) \(answer.body)")
            #expect(answer.body.contains(message), "\(name): \(answer.body)")
            #expect(!FileManager.default.fileExists(atPath: "/etc/gear-evil"), "\(name)")
            #expect(try sh("find \(geard.stateDir)/volumes/\(id) | sort").output == before, "\(name)")
            #expect(try sh("podman exec ctr-\(id) ls -A /data/t").output == "kept\nplanted\n", "\(name)")
        }
        // A cut-off archive and an archive over the limit store nothing either.
        #expect(
            try sh(
                "head -c 700000 /dev/urandom > \(work)/big && tar -C \(work) -cf \(work)/big.tar big && head -c 100000 \(work)/big.tar > \(work)/cut.tar"
            ).status == 0)
        let cut = try put(geard, id, "\(work)/cut.tar", path: "/data/t")
        #expect(cut.status == 400 && cut.body.contains("cut off"), "\(cut.body)")
        #expect(try sh("podman exec ctr-\(id) ls -A /data/t").output == "kept\nplanted\n")
        // No staging directory is left at the volume's root.
        #expect(try sh("ls -A \(geard.stateDir)/volumes/\(id)/data").output == "t\n")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aSymlinkTheContainerPlantedIsReplacedNotFollowed() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installWithVolume(geard, "plant")
        #expect(try sh("mkdir -p /var/tmp/gear-outside && podman exec ctr-\(id) ln -s /var/tmp/gear-outside /data/d").status == 0)
        // Out: the symlink is archived as a symlink.
        let out = try sh("curl -sf 'http://127.0.0.1:\(geard.port)/container/\(id)/archive?path=/data/d' | tar -tvf -").output
        #expect(out.contains("d -> /var/tmp/gear-outside"), "\(out)")
        // In: an archive with d/ as a directory replaces the link; nothing lands outside.
        #expect(try sh("mkdir -p \(work)/p/d && echo inside > \(work)/p/d/f && tar -C \(work)/p -cf \(work)/p.tar d").status == 0)
        let answer = try put(geard, id, "\(work)/p.tar", path: "/data")
        #expect(answer.status == 200, "\(answer.body)")
        #expect(try sh("ls -A /var/tmp/gear-outside").output.isEmpty)
        #expect(try sh("podman exec ctr-\(id) cat /data/d/f").output == "inside\n")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func archivesBeyondTheVolumeLimitAre413() async throws {
        let geard = try await GeardProcess.start(arguments: ["--volume-size-limit", "256K"])
        defer { Task { await geard.stop() } }
        let id = try await installWithVolume(geard, "alim")
        #expect(try sh("head -c 400000 /dev/urandom > \(work)/f && tar -C \(work) -cf \(work)/f.tar f").status == 0)
        let answer = try put(geard, id, "\(work)/f.tar", path: "/data")
        #expect(answer.status == 413, "\(answer.body)")
        #expect(try sh("ls -A \(geard.stateDir)/volumes/\(id)/data").output.isEmpty)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func imageArchivesAreImportedAsJobs() async throws {
        let geard = try await SharedGeard.get()
        let tag = "localhost/gear-copy-\(UUID().uuidString.prefix(6).lowercased()):1"
        #expect(try sh("podman tag localhost/busybox \(tag) && podman save -q -o \(work)/image.tar \(tag) && podman rmi -f \(tag)").status == 0)
        let loaded = try curl("POST", "http://127.0.0.1:\(geard.port)/images?wait=120", options: "--data-binary @\(work)/image.tar")
        #expect(loaded.status == 200, "\(loaded.body)")
        let job = try GearJSON.decoder().decode(Job.self, from: Data(loaded.body.utf8))
        #expect(job.kind == .imageImport && job.result?.images == [tag])
        let list = try GearJSON.decoder().decode(ImageList.self, from: Data(try curl("GET", "http://127.0.0.1:\(geard.port)/images").body.utf8))
        #expect(list.images.contains { $0.names.contains(tag) })
        // A container runs it.
        let id = uniqueID("img")
        #expect(
            try await geard.client.install(id, InstallRequest(image: tag, cmd: ["sleep", "1000"], started: true), wait: 90).job.state == .succeeded)
        _ = try await geard.client.delete(id, wait: 60)

        // A root file system with ?name= is imported as that image.
        let name = "localhost/gear-rootfs-\(UUID().uuidString.prefix(6).lowercased())"
        #expect(
            try sh(
                "mkdir -p \(work)/rootfs/bin && cp /bin/busybox \(work)/rootfs/bin/ && ln -s busybox \(work)/rootfs/bin/sh && tar -C \(work)/rootfs -cf \(work)/rootfs.tar ."
            ).status == 0)
        let imported = try curl("POST", "http://127.0.0.1:\(geard.port)/images?name=\(name)&wait=120", options: "--data-binary @\(work)/rootfs.tar")
        #expect(imported.status == 200, "\(imported.body)")
        #expect(try sh("podman image exists \(name)").status == 0)
        #expect(try sh("ls \(geard.stateDir)/images").output.isEmpty)

        // Imports answered at once (wait=0) queue one behind the other; each archive stays until its job read it.
        var queued: [(job: String, name: String)] = []
        for n in 0..<3 {
            let name = "localhost/gear-queued-\(n)-\(UUID().uuidString.prefix(6).lowercased())"
            let answer = try curl("POST", "http://127.0.0.1:\(geard.port)/images?name=\(name)&wait=0", options: "--data-binary @\(work)/rootfs.tar")
            #expect(answer.status == 202, "\(answer.body)")
            queued.append((try GearJSON.decoder().decode(Job.self, from: Data(answer.body.utf8)).id, name))
        }
        for (job, name) in queued {
            let done = try await geard.client.wait(job: job, timeout: 120)
            #expect(done.job.state == .succeeded, "\(done.job.error?.message ?? "")")
            #expect(try sh("podman image exists \(name)").status == 0)
            _ = try sh("podman rmi -f \(name)")
        }
        #expect(try sh("ls \(geard.stateDir)/images").output.isEmpty)

        // What podman refuses fails its job with podman's words; bad names and empty bodies are refused at once.
        let garbage = try curl("POST", "http://127.0.0.1:\(geard.port)/images?wait=120", body: "this is not an image archive")
        #expect(garbage.status == 400, "\(garbage.body)")
        #expect(try GearJSON.decoder().decode(APIError.self, from: Data(garbage.body.utf8)).job?.state == .failed)
        let badName = try curl("POST", "http://127.0.0.1:\(geard.port)/images?name=Bad%20Name", options: "--data-binary @\(work)/rootfs.tar")
        #expect(badName.status == 400 && badName.body.contains("invalid image name"), "\(badName.body)")
        let empty = try curl("POST", "http://127.0.0.1:\(geard.port)/images", body: "")
        #expect(empty.status == 400, "\(empty.body)")
        #expect(try sh("ls \(geard.stateDir)/images").output.isEmpty)
        _ = try sh("podman rmi -f \(tag) \(name)")
    }
}
