import ArgumentParser
import Foundation
import GearAPI
import GearClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gear cp`: a file or a directory tree between this machine and a container's volume, either way.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy a file or directory into a container's volume, or out of it.",
        discussion: """
            One side is local, the other is [host[:port]/]id:/path, a path inside the container that lies in one of \
            its volumes. Uploads send the file's SHA-256 (Content-Digest), so geard stores it only if it arrived \
            intact, and replace the target atomically; downloads are written to a temporary file next to the target \
            and renamed once every byte arrived. A local path that contains ':/' can be written as ./path.

            Directories go as tar streams, like cp -r: into an existing directory a tree goes by its name, otherwise it \
            becomes the target. geard extracts them all or nothing; gear extracts what it receives the same way, so \
            nothing can land outside the target. Symlinks are copied as symlinks, never followed.

            Examples:
              gear cp ./app.conf web:/data/app.conf
              gear cp --mode 0600 --parents secrets.env node1/web:/data/conf/secrets.env
              gear cp node1/web:/data/logs/a.log ./a.log
              gear cp ./site node1/web:/data/www          # a directory tree
              gear cp node1/web:/data/logs ./logs-node1
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Permission bits of an uploaded file, octal (default: the replaced file's, or 0644).") var mode: String?
    @Flag(name: [.short, .long], help: "Create missing directories of an upload's target.") var parents = false
    @Argument(help: "The source: a local file, or [host[:port]/]id:/path.") var source: String
    @Argument(help: "The target: a local file, or [host[:port]/]id:/path.") var target: String

    /// What `--output json` prints for a download.
    struct Downloaded: Encodable {
        var bytes: Int64
        var path: String
    }

    /// A container file: where it is, and its path inside the container.
    struct Remote {
        var locator: Locator
        var path: String
    }

    /// `LOCATOR:/path`, or nil for a local path (`./...`, `/...`, or anything without `:/`).
    static func remote(_ text: String) throws -> Remote? {
        guard !text.hasPrefix("/"), !text.hasPrefix("."), let split = text.range(of: ":/") else { return nil }
        let locator = try Locator(parsing: String(text[..<split.lowerBound]))
        let id = locator.id
        guard id.utf8.count <= 64, let first = id.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first),
            id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
        else {
            throw ValidationError("'\(text)': '\(id)' is not a container id (up to 64 letters, digits, '_' or '-', starting with a letter or digit)")
        }
        let path = String(text[text.index(after: split.lowerBound)...])
        guard path.split(separator: "/").allSatisfy({ $0 != "." && $0 != ".." }) else {
            throw ValidationError("'\(text)': the container path may not contain . or .. components")
        }
        return Remote(locator: locator, path: path)
    }

    func validate() throws {
        let (from, to) = (try Self.remote(source), try Self.remote(target))
        guard (from == nil) != (to == nil) else {
            throw ValidationError("one side must be local and the other [host/]id:/path, e.g. gear cp ./a.txt web:/data/a.txt")
        }
        if let mode {
            guard mode.count <= 4, let bits = UInt32(mode, radix: 8), bits <= 0o777 else { throw ValidationError("--mode must be octal, 0 to 0777") }
        }
        if from != nil, mode != nil || parents { throw ValidationError("--mode and --parents apply to uploads") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        if let remote = try Self.remote(target) {
            let endpoint = remote.locator.endpoint(global)
            let client = try global.client(for: endpoint)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue {
                guard mode == nil else { throw ValidationError("--mode applies to files; a directory's files keep their own modes") }
                do {
                    try await uploadDirectory(source, to: remote, client: client, started: started)
                } catch {
                    try fail("\(endpoint)/\(remote.locator.id)", error)
                }
                return
            }
            do {
                let bar = ProgressBar(enabled: showsProgress)
                let result = try await client.upload(
                    remote.locator.id, path: remote.path, from: source, mode: mode, parents: parents, requestID: global.requestID,
                    progress: bar.update)
                bar.finish()
                report(
                    result.file.size, "\(source) -> \(remote.locator):\(result.file.path)", verified: result.verified, started: started, json: result)
            } catch {
                try fail("\(endpoint)/\(remote.locator.id)", error)
            }
        } else if let remote = try Self.remote(source) {
            let endpoint = remote.locator.endpoint(global)
            let client = try global.client(for: endpoint)
            do {
                if try await client.pathKind(remote.locator.id, path: remote.path) == .directory {
                    try await downloadDirectory(remote, to: target, client: client, started: started)
                    return
                }
            } catch {
                try fail("\(endpoint)/\(remote.locator.id)", error)
            }
            var local = target
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue {
                local += "/" + ((remote.path as NSString).lastPathComponent)
            }
            do {
                let bar = ProgressBar(enabled: showsProgress)
                let bytes = try await client.download(
                    remote.locator.id, path: remote.path, to: local, requestID: global.requestID, progress: bar.update)
                bar.finish()
                report(
                    bytes, "\(remote.locator):\(remote.path) -> \(local)", verified: [], started: started, json: Downloaded(bytes: bytes, path: local)
                )
            } catch {
                try fail("\(endpoint)/\(remote.locator.id)", error)
            }
        }
    }

    /// A progress bar on stderr only when it is a terminal, and not with --quiet or --output json.
    var showsProgress: Bool { isatty(STDERR_FILENO) == 1 && !global.quiet && global.output != .json }

    func report(_ bytes: Int64, _ what: String, verified: [String], started: ContinuousClock.Instant, json: some Encodable, detail: String? = nil) {
        if global.quiet { return }
        if global.output == .json {
            let data = (try? GearJSON.encoder().encode(json)) ?? Data()
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        let elapsed = started.duration(to: .now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        let rate = seconds > 0 ? String(format: ", %.0f MB/s", Double(bytes) / seconds / 1e6) : ""
        let check = verified.isEmpty ? "" : " (\(verified.joined(separator: ", ")) verified)"
        print("\(what): \(detail.map { $0 + ", " } ?? "")\(bytes) bytes\(rate)\(check)")
    }

    func fail(_ where_: String, _ error: any Error) throws -> Never {
        FileHandle.standardError.write(Data("gear: \(where_): \(Output.describe(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// `[#########           ]  45%  1.2 GB of 2.7 GB  310 MB/s` on stderr, redrawn at most 10 times a second.
final class ProgressBar: Sendable {
    private struct State {
        var lastDraw: ContinuousClock.Instant?
        var drawn = false
    }

    let enabled: Bool
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    init(enabled: Bool) { self.enabled = enabled }

    /// Bytes done of `total` (nil when unknown).
    func update(_ done: Int64, _ total: Int64?) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            if let last = state.lastDraw, now - last < .milliseconds(100), done != total { return false }
            state.lastDraw = now
            state.drawn = true
            return true
        }
        guard due else { return }
        FileHandle.standardError.write(Data(("\r" + Self.line(done: done, total: total, elapsed: started.duration(to: now))).utf8))
    }

    func finish() {
        guard enabled, state.withLock({ $0.drawn }) else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func line(done: Int64, total: Int64?, elapsed: Duration, width: Int = 24) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? "  \(size(Int64(Double(done) / seconds)))/s" : ""
        guard let total, total > 0 else { return "\(size(done))\(rate)" }
        let fraction = min(1, Double(done) / Double(total))
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let percent = String(Int(fraction * 100))
        return "[\(bar)] \(String(repeating: " ", count: 3 - percent.count))\(percent)%  \(size(done)) of \(size(total))\(rate)"
    }

    /// Bytes in decimal units, as transfer rates are given: `312 MB`, `1.2 GB`.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 || value >= 100 ? "\(Int(value.rounded())) \(units[unit])" : String(format: "%.1f", value) + " " + units[unit]
    }
}
