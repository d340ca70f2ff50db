import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// File transfer into real containers' volumes with curl as the client: what is uploaded is what the container
/// sees (and the other way round), downloads resume, and nothing a container plants in its volume (symlinks out,
/// FIFOs) makes geard touch anything outside it.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct FileTransferTests {
    /// A scratch directory for the files curl sends and receives.
    let work: String

    init() throws {
        work = "/var/tmp/gear-files-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    /// Installs an exec container that is not started, with a volume `data` at `path`; answers its id.
    func installIdle(_ geard: GeardProcess, _ prefix: String, volumeAt path: String) async throws -> String {
        let id = uniqueID(prefix)
        let request = InstallRequest(
            runtime: "exec", cmd: ["/bin/sleep", "1000"], started: false, volumes: [VolumeRequest(name: "data", path: path)])
        #expect(try await geard.client.install(id, request, wait: 60).job.state == .succeeded)
        return id
    }

    func sha256(_ file: String) throws -> String {
        try sh("sha256sum \(file) | cut -d' ' -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `sha-256=:BASE64:` of a file, as RFC 9530 writes it.
    func contentDigest(_ file: String) throws -> String {
        "sha-256=:" + (try sh("openssl dgst -sha256 -binary \(file) | base64 -w0").output) + ":"
    }

    @Test func uploadsReachThePodmanContainerAndDownloadsResume() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("files")
        let installed = try await geard.client.send(
            .PUT, "/container/\(id)?wait=90",
            body: Data(
                #"{"Image":"localhost/busybox","Cmd":["httpd","-f","-p","8080","-h","/www"],"Ports":[{"Internal":8080}],"Started":true,"Volumes":[{"Name":"www","Path":"/www"}]}"#
                    .utf8))
        #expect(installed.status == 200)
        let external = try #require(installed.header("X-PortMapping")?.split(separator: ":").last.map(String.init))
        let base = "http://127.0.0.1:\(geard.port)/container/\(id)/files"

        // Upload with a digest; the container serves it.
        try "hello from geard\n".write(toFile: "\(work)/index.html", atomically: true, encoding: .utf8)
        let put = try sh(
            "curl -s -o \(work)/put.json -w '%{http_code}' -T \(work)/index.html -H 'Content-Digest: \(try contentDigest("\(work)/index.html"))' \(base)/www/index.html"
        )
        #expect(put.output == "201", "\(put.output) \((try? String(contentsOfFile: "\(work)/put.json", encoding: .utf8)) ?? "")")
        #expect(try sh("curl -s --max-time 5 http://127.0.0.1:\(external)/index.html").output == "hello from geard\n")

        // What the container writes comes back out.
        #expect(try sh("podman exec ctr-\(id) sh -c 'echo written inside > /www/inside.txt'").status == 0)
        #expect(try curl("GET", "\(base)/www/inside.txt").body == "written inside\n")

        // 8 MiB of random bytes, uploaded with 100-continue, downloaded whole and then resumed from a torn copy.
        #expect(try sh("head -c 8388608 /dev/urandom > \(work)/big").status == 0)
        let upload = try sh("curl -sv -T \(work)/big \(base)/www/big -o /dev/null 2>&1")
        #expect(upload.output.contains("HTTP/1.1 100 Continue") && upload.output.contains("HTTP/1.1 201"))
        #expect(try sh("curl -s -o \(work)/big.down \(base)/www/big").status == 0)
        #expect(try sha256("\(work)/big.down") == (try sha256("\(work)/big")))
        #expect(try sh("head -c 3000000 \(work)/big > \(work)/big.part && curl -s -C - -o \(work)/big.part \(base)/www/big").status == 0)
        #expect(try sha256("\(work)/big.part") == (try sha256("\(work)/big")))
        let head = try curl("HEAD", "\(base)/www/big", options: "-I")
        #expect(head.status == 200 && head.headers["content-length"] == "8388608" && head.headers["etag"] != nil)
        #expect(
            try sh("podman exec ctr-\(id) sha256sum /www/big | cut -d' ' -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)
                == (try sha256("\(work)/big")))

        // A wrong digest stores nothing.
        let mismatch = try curl(
            "PUT", "\(base)/www/index.html", body: "tampered", headers: [("Content-Digest", try contentDigest("\(work)/index.html"))])
        #expect(mismatch.status == 400 && mismatch.body.contains("digest_mismatch"))
        #expect(try sh("curl -s --max-time 5 http://127.0.0.1:\(external)/index.html").output == "hello from geard\n")

        // Concurrent uploads to one path: one of them wins whole.
        // (xargs, not the shell's `wait`: the test runner's children inherit a blocked SIGCHLD.)
        var digests: Set<String> = []
        for n in 0..<6 {
            #expect(try sh("head -c 1048576 /dev/urandom > \(work)/c\(n)").status == 0)
            digests.insert(try sha256("\(work)/c\(n)"))
        }
        #expect(try sh("seq 0 5 | xargs -P 6 -I{} curl -s -o /dev/null -T \(work)/c{} \(base)/www/same").status == 0)
        #expect(try sh("curl -s -o \(work)/same \(base)/www/same").status == 0)
        #expect(digests.contains(try sha256("\(work)/same")))
        let listing = try GearJSON.decoder().decode(DirectoryListing.self, from: Data(try curl("GET", "\(base)/www").body.utf8))
        #expect(listing.entries.map(\.name) == ["big", "index.html", "inside.txt", "same"])

        _ = try await geard.client.delete(id, wait: 60)
        #expect(try curl("GET", "\(base)/www/big").status == 404)
    }

    @Test func gearCopiesFilesInAndOut() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installIdle(geard, "cp", volumeAt: "/srv/data")
        let remote = "127.0.0.1:\(geard.port)/\(id):/srv/data"
        #expect(try sh("head -c 3000000 /dev/urandom > \(work)/cp-source").status == 0)
        let up = try sh("\(Sandbox.gearPath) cp --mode 0640 --parents \(work)/cp-source \(remote)/deep/dir/file.bin")
        #expect(up.status == 0 && up.output.contains("3000000 bytes") && up.output.contains("sha-256 verified"), "\(up.output)")
        #expect(!up.output.contains("%]") && !up.output.contains("["), "no progress bar without a terminal: \(up.output)")
        // On a terminal (a pty from script(1)) a progress bar is drawn on stderr and ends at 100%.
        let tty = try sh("script -qec '\(Sandbox.gearPath) cp \(work)/cp-source \(remote)/tty.bin' /dev/null")
        #expect(tty.status == 0 && tty.output.contains("[########################] 100%  3.0 MB of 3.0 MB"), "\(tty.output)")
        let stored = "\(geard.stateDir)/volumes/\(id)/data/deep/dir/file.bin"
        #expect(try sha256(stored) == (try sha256("\(work)/cp-source")))
        #expect(try sh("stat -c %a \(stored)").output == "640\n")
        let down = try sh("\(Sandbox.gearPath) cp --output json \(remote)/deep/dir/file.bin \(work)")
        #expect(down.status == 0 && down.output.contains("\"bytes\":3000000"), "\(down.output)")
        #expect(try sha256("\(work)/file.bin") == (try sha256("\(work)/cp-source")))
        // Errors are one line with the host and geard's message, and a non-zero exit.
        let outside = try sh("\(Sandbox.gearPath) cp \(work)/cp-source 127.0.0.1:\(geard.port)/\(id):/etc/passwd")
        #expect(
            outside.status == 1 && outside.output.contains("is not inside a volume") && outside.output.contains("127.0.0.1:\(geard.port)"),
            "\(outside.output)")
        let missing = try sh("\(Sandbox.gearPath) cp \(remote)/nope \(work)/nope")
        #expect(missing.status == 1 && missing.output.contains("does not exist") && !FileManager.default.fileExists(atPath: "\(work)/nope"))
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func gearCopiesDirectoriesBothWaysLikeCpR() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installIdle(geard, "cpdir", volumeAt: "/srv/data")
        let remote = "127.0.0.1:\(geard.port)/\(id):/srv/data"
        let volume = "\(geard.stateDir)/volumes/\(id)/data"
        #expect(
            try sh(
                "mkdir -p \(work)/site/css && echo '<h1>hi</h1>' > \(work)/site/index.html && echo 'a{}' > \(work)/site/css/a.css && head -c 2000000 /dev/urandom > \(work)/site/blob && ln -s index.html \(work)/site/home"
            ).status == 0)
        // Into a directory that does not exist: it becomes the tree.
        let up = try sh("\(Sandbox.gearPath) cp \(work)/site \(remote)/www")
        #expect(up.status == 0 && up.output.contains("3 files, 2 directories, 1 symlinks"), "\(up.output)")
        #expect(try sh("diff -r --no-dereference \(work)/site \(volume)/www").status == 0)
        // Into one that exists: the tree goes by its name.
        #expect(try sh("\(Sandbox.gearPath) cp \(work)/site \(remote)/www").status == 0)
        #expect(try sh("diff -r --no-dereference \(work)/site \(volume)/www/site").status == 0)
        // And out again, the same two ways.
        let down = try sh("\(Sandbox.gearPath) cp \(remote)/www \(work)/copy")
        #expect(down.status == 0, "\(down.output)")
        #expect(try sh("diff -r --no-dereference \(volume)/www \(work)/copy").status == 0)
        #expect(
            try sh("mkdir -p \(work)/into && \(Sandbox.gearPath) cp --output json \(remote)/www/site \(work)/into").output.contains("\"files\":3"))
        #expect(try sh("diff -r --no-dereference \(work)/site \(work)/into/site").status == 0)
        // A directory onto a file is refused, with nothing written.
        let onto = try sh("\(Sandbox.gearPath) cp \(work)/site \(remote)/www/index.html")
        #expect(onto.status == 1 && onto.output.contains("is a file"), "\(onto.output)")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func gearImportsImagesIntoSeveralHosts() async throws {
        let geard = try await SharedGeard.get()
        let other = try await GeardProcess.start()
        defer { Task { await other.stop() } }
        let tag = "localhost/gear-cli-\(UUID().uuidString.prefix(6).lowercased()):1"
        #expect(try sh("podman tag localhost/busybox \(tag) && podman save -q -o \(work)/cli-image.tar \(tag) && podman rmi -f \(tag)").status == 0)
        let imported = try sh(
            "\(Sandbox.gearPath) image import --wait \(work)/cli-image.tar 127.0.0.1:\(geard.port) 127.0.0.1:\(other.port)")
        #expect(imported.status == 0, "\(imported.output)")
        #expect(
            imported.output.split(separator: "\n").filter { $0.contains("image-import succeeded") && $0.contains(tag) }.count == 2,
            "\(imported.output)")
        let listed = try sh("\(Sandbox.gearPath) image list 127.0.0.1:\(geard.port)")
        #expect(listed.status == 0 && listed.output.contains(tag), "\(listed.output)")
        let bad = try sh("\(Sandbox.gearPath) image import --wait /etc/hostname 127.0.0.1:\(geard.port)")
        #expect(bad.status == 1 && bad.output.contains("podman load refused"), "\(bad.output)")
        _ = try sh("podman rmi -f \(tag)")
    }

    @Test func whatTheContainerPlantsNeverLeadsOutOfTheVolume() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("plant")
        let request = InstallRequest(
            image: "localhost/busybox", cmd: ["sleep", "1000"], started: true, volumes: [VolumeRequest(name: "data", path: "/data")])
        #expect(try await geard.client.install(id, request, wait: 90).job.state == .succeeded)
        let base = "http://127.0.0.1:\(geard.port)/container/\(id)/files"
        // Inside the container these point at its own /etc; on the host the same links would lead to the host's.
        let planted = try sh(
            "podman exec ctr-\(id) sh -c 'ln -s /etc /data/etc && ln -s ../../../../../../.. /data/up && ln -s /etc/hostname /data/name && mkfifo /data/fifo && mkdir /data/sub'"
        )
        #expect(planted.status == 0, "\(planted.output)")
        for path in ["etc/passwd", "up/etc/passwd", "name", "etc"] {
            let answer = try curl("GET", "\(base)/data/\(path)")
            #expect(answer.status == 403 && answer.body.contains("symlink"), "GET \(path): \(answer.status) \(answer.body)")
        }
        for path in ["etc/gear-planted", "up/etc/gear-planted", "up/tmp/gear-planted"] {
            #expect(try curl("PUT", "\(base)/data/\(path)", body: "x").status == 403, "PUT \(path)")
            #expect(try curl("PUT", "\(base)/data/\(path)?parents=1", body: "x").status == 403, "PUT \(path)?parents=1")
        }
        #expect(!FileManager.default.fileExists(atPath: "/etc/gear-planted") && !FileManager.default.fileExists(atPath: "/tmp/gear-planted"))
        let fifo = try sh("timeout -s KILL 10 curl -s -w ' %{http_code}' \(base)/data/fifo")
        #expect(fifo.output.hasSuffix(" 403") && fifo.output.contains("FIFO"), "\(fifo.output)")
        // Traversal in the URL itself (curl sends it as written).
        for path in ["../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "sub%2F..%2F..%2Fx", "a%00b"] {
            #expect(try curl("GET", "\(base)/data/\(path)").status == 400, "\(path)")
        }
        #expect(try curl("GET", "\(base)/etc/passwd").status == 403)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/nope-\(id)/files/data/x").status == 404)
        // A recursive delete removes the links, never what they point to.
        #expect(try curl("DELETE", "\(base)/data/etc?recursive=1").status == 200)
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"))
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aFullDiskAnswers507AndLeavesNoPartialFile() async throws {
        let geard = try await SharedGeard.get()
        let id = try await installIdle(geard, "full", volumeAt: "/data")
        let volume = "\(geard.stateDir)/volumes/\(id)/data"
        #expect(try sh("mount -t tmpfs -o size=1m tmpfs \(volume)").status == 0)
        defer { _ = try? sh("umount \(volume)") }
        #expect(try sh("head -c 3000000 /dev/urandom > \(work)/toobig").status == 0)
        let answer = try sh("curl -s -w ' %{http_code}' -T \(work)/toobig http://127.0.0.1:\(geard.port)/container/\(id)/files/data/toobig")
        #expect(answer.output.hasSuffix(" 507") && answer.output.contains("disk_full"), "\(answer.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume).isEmpty)
        #expect(try sh("umount \(volume)").status == 0)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func anUploadCutOffByAKilledGeardLeavesNothingBehind() async throws {
        let geard = try await GeardProcess.start()
        let id = try await installIdle(geard, "cut", volumeAt: "/data")
        let volume = "\(geard.stateDir)/volumes/\(id)/data"
        try "old\n".write(toFile: "\(volume)/file", atomically: true, encoding: .utf8)
        // curl sends 2 MB of a body that then stalls (chunked, from a pipe this test holds open); geard is killed
        // in the middle of the upload.
        let uploader = Process()
        uploader.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        uploader.arguments = ["-s", "-o", "/dev/null", "-T", "-", "http://127.0.0.1:\(geard.port)/container/\(id)/files/data/file"]
        let body = Pipe()
        uploader.standardInput = body
        try uploader.run()
        body.fileHandleForWriting.write(Data((0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        #expect(
            try await eventually {
                (try? sh("curl -s 127.0.0.1:\(geard.port)/metrics").output.contains("gear_file_transfer_bytes_total{direction=\"upload\"} ")) == true
            })
        await geard.stop(signal: SIGKILL)
        try body.fileHandleForWriting.close()
        uploader.terminate()
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume) == ["file"])
        #expect(try String(contentsOfFile: "\(volume)/file", encoding: .utf8) == "old\n")
        // What a kill between an upload's link and its rename leaves (or a named temporary file where O_TMPFILE is
        // missing), at any depth: swept after the restart; a file of the container's own that only looks alike stays.
        try FileManager.default.createDirectory(atPath: "\(volume)/deep/er", withIntermediateDirectories: true)
        let leftovers = ["\(volume)/.gear-upload-9f3a", "\(volume)/deep/er/.gear-upload-0123456789abcdef"]
        for leftover in leftovers { try "partial".write(toFile: leftover, atomically: false, encoding: .utf8) }
        try "mine".write(toFile: "\(volume)/deep/.gear-upload-notes", atomically: false, encoding: .utf8)
        try await geard.restart()
        #expect(try await eventually { leftovers.allSatisfy { !FileManager.default.fileExists(atPath: $0) } })
        #expect(FileManager.default.fileExists(atPath: "\(volume)/deep/.gear-upload-notes"))
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/files/data/file").body == "old\n")
        _ = try await geard.client.delete(id, wait: 60)
        await geard.stop()
    }
}
