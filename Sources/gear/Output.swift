import ArgumentParser
import Foundation
import GearAPI
import GearClient

#if canImport(Glibc)
    import Glibc
#endif

/// Prints results for people (aligned tables, a host prefix when several hosts are involved) or for scripts
/// (`--output json`: one JSON document), and turns failures into one clear line each and the exit status.
struct Output {
    let options: GlobalOptions

    /// True when more than one geard takes part, so that lines name their host.
    static func manyHosts<T>(_ outcomes: [FanOut.Outcome<T>]) -> Bool {
        Set(outcomes.map(\.endpoint)).count > 1
    }

    /// `host/id` when several hosts take part, else `id`; just the host for calls to a host (`-` as the id).
    static func label<T>(_ outcome: FanOut.Outcome<T>, many: Bool) -> String {
        if outcome.locator.id == "-" { return "\(outcome.endpoint)" }
        return many ? "\(outcome.endpoint)/\(outcome.locator.id)" : outcome.locator.id
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? GearClientError { return error.description }
        return "\(error)"
    }

    /// Prints failures to stderr, a summary when some calls failed and others did not, and the exit code.
    func finish<T>(_ outcomes: [FanOut.Outcome<T>]) throws {
        let many = Self.manyHosts(outcomes)
        let failed = outcomes.filter { if case .failure = $0.result { true } else { false } }
        for outcome in failed {
            if case .failure(let error) = outcome.result {
                FileHandle.standardError.write(Data("gear: \(outcome.endpoint)/\(outcome.locator.id): \(Self.describe(error))\n".utf8))
            }
        }
        guard !failed.isEmpty else { return }
        if failed.count < outcomes.count || many {
            let names = failed.map { Self.label($0, many: true) }.joined(separator: ", ")
            FileHandle.standardError.write(Data("gear: \(failed.count) of \(outcomes.count) failed: \(names)\n".utf8))
        }
        throw ExitCode(1)
    }

    func print(_ line: String) {
        guard !options.quiet else { return }
        Swift.print(line)
    }

    /// JSON for scripts: an array with one entry per locator.
    func json<T: Encodable>(_ outcomes: [FanOut.Outcome<T>]) {
        let entries = outcomes.map { outcome -> JSONEntry<T> in
            switch outcome.result {
            case .success(let value): JSONEntry(host: outcome.endpoint.description, id: outcome.locator.id, ok: true, value: value, error: nil)
            case .failure(let error):
                JSONEntry(host: outcome.endpoint.description, id: outcome.locator.id, ok: false, value: nil, error: Self.describe(error))
            }
        }
        if let data = try? GearJSON.encoder(pretty: true).encode(entries) { print(String(decoding: data, as: UTF8.self)) }
    }

    /// Aligned columns.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in i == columns - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// A state word, coloured only on a terminal.
    static func colour(_ state: String) -> String {
        guard isatty(STDOUT_FILENO) == 1, ProcessInfo.processInfo.environment["NO_COLOR"] == nil else { return state }
        let code =
            switch state {
            case "active", "succeeded": "32"
            case "failed": "31"
            case "activating", "deactivating", "queued", "running", "reloading": "33"
            default: "0"
            }
        return "\u{1B}[\(code)m\(state)\u{1B}[0m"
    }
}

/// One locator's result in `--output json`.
struct JSONEntry<Value: Encodable>: Encodable {
    var host: String
    var id: String
    var ok: Bool
    var value: Value?
    var error: String?
}
