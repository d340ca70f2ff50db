import ArgumentParser
import Foundation
import GearAPI
import GearClient
import Synchronization

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show (and follow) the journal of containers.",
        discussion: """
            With several locators the streams are interleaved as entries arrive, each line prefixed with its container \
            (and host, when several hosts are involved).

            Examples:
              gear logs web
              gear logs -f --lines 20 node1/web node2/web
              gear logs --since -10m --output json web
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(name: [.short, .long], help: "Keep streaming new entries until interrupted.") var follow = false
    @Option(name: [.short, .long], help: "The last N entries, or all (geard's default: 100).") var lines: String?
    @Option(name: .long, help: "From this time: RFC 3339, @UNIXSECONDS, now, or relative like -5m.") var since: String?
    @Option(name: .long, help: "Up to this time (same forms).") var until: String?
    @Option(name: .long, help: "Resume right after this journal cursor.") var cursor: String?
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func validate() throws {
        if let lines, lines != "all", Int(lines).map({ $0 < 0 }) ?? true { throw ValidationError("--lines must be a number or all") }
    }

    func run() async throws {
        let parsed = try global.locators(locators)
        let endpoints = parsed.map { $0.endpoint(self.global) }
        let manyHosts = Set(endpoints).count > 1
        let prefix = parsed.count > 1
        let options = GearClient.LogOptions(lines: lines, since: since, until: until, cursor: cursor, follow: follow)
        let (global, json) = (global, global.output == .json)
        let out = LinePrinter()
        let failures = await withTaskGroup(of: String?.self) { group in
            for (locator, endpoint) in zip(parsed, endpoints) {
                group.addTask {
                    let label = manyHosts ? "\(endpoint)/\(locator.id)" : locator.id
                    do {
                        let client = try global.client(for: endpoint)
                        for try await entry in client.logs(locator.id, options) {
                            var line = Data()
                            if json {
                                let tagged = TaggedEntry(host: endpoint.description, id: locator.id, entry: entry)
                                line = (try? JSONEncoder.sortedKeys.encode(tagged)) ?? Data()
                            } else {
                                if prefix { line.append(Data("\(label): ".utf8)) }
                                line.append(entry.messageBytes)
                            }
                            line.append(UInt8(ascii: "\n"))
                            out.write(line)
                        }
                        return nil
                    } catch {
                        return "gear: \(endpoint)/\(locator.id): \(Output.describe(error))\n"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        for failure in failures { FileHandle.standardError.write(Data(failure.utf8)) }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}

/// One entry in `--output json`: NDJSON, one object per line, tagged with its host and container.
struct TaggedEntry: Encodable {
    var host: String
    var id: String
    var entry: LogEntry

    enum Keys: String, CodingKey { case host, id }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(host, forKey: .host)
        try container.encode(id, forKey: .id)
        try entry.encode(to: encoder)
    }
}

extension JSONEncoder {
    static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Writes whole lines to stdout from several tasks without interleaving them.
final class LinePrinter: Sendable {
    private let lock = Mutex(())

    func write(_ line: Data) {
        lock.withLock { _ in FileHandle.standardOutput.write(line) }
    }
}
