public import Foundation

/// The interactive form of exec: `GET /container/{id}/exec?cmd=...` upgraded to a WebSocket.
///
/// The request travels in the query (the upgrade has no body), so that everything is checked, authorized and
/// answered with a JSON error before the connection changes protocol. Every message after the upgrade is a binary
/// WebSocket message whose first byte names its channel (the scheme of Kubernetes' `v4.channel.k8s.io`):
///
/// | byte | direction | payload |
/// |---|---|---|
/// | 0 | client to geard | stdin bytes |
/// | 1 | geard to client | stdout bytes (with `tty`, the terminal's output) |
/// | 2 | geard to client | stderr bytes (never with `tty`) |
/// | 3 | geard to client | the exit, an `ExecFrame` as JSON (`{"stream":"exit","exitCode":0}`); then geard closes |
/// | 4 | client to geard | a terminal size, `{"Width":120,"Height":40}` |
/// | 255 | client to geard | `[255, 0]`: stdin is closed (the command reads end of file) |
public enum ExecChannel: UInt8, Sendable, Hashable {
    case stdin = 0
    case stdout = 1
    case stderr = 2
    case exit = 3
    case resize = 4
    case close = 255
}

/// What a client sends to an interactive exec.
public enum ExecInput: Sendable, Hashable {
    case stdin([UInt8])
    /// The client's stdin ended: the command reads end of file (without a terminal; a terminal has no such end).
    case closeStdin
    case resize(TerminalSize)
}

/// A terminal's size in characters (channel 4, and `cols`/`rows` in the query).
public struct TerminalSize: Sendable, Hashable, Codable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Sizes a terminal can have (1 to 10,000 in each direction).
    public var isValid: Bool { (1...10_000).contains(width) && (1...10_000).contains(height) }

    private enum CodingKeys: String, CodingKey {
        case width = "Width", height = "Height"
    }
}

/// An interactive exec request: the fields of `ExecRequest`, plus whether the command reads stdin and the
/// terminal's first size.
public struct InteractiveExecRequest: Sendable, Hashable {
    public var exec: ExecRequest
    /// The command's stdin is the client's (channel 0); without it, stdin is empty (with `tty`, the terminal's).
    public var stdin: Bool
    public var size: TerminalSize?

    public init(exec: ExecRequest, stdin: Bool, size: TerminalSize? = nil) {
        self.exec = exec
        self.stdin = stdin
        self.size = size
    }

    /// The largest query geard reads.
    public static let maxQueryBytes = 64 * 1024

    /// The query that carries it: `cmd` once per argument, `env` once per `NAME=VALUE`, `workingDir`, `user`, `tty`,
    /// `stdin`, `timeout`, `cols`, `rows`.
    public var queryItems: [URLQueryItem] {
        var items = exec.cmd.map { URLQueryItem(name: "cmd", value: $0) }
        for (name, value) in (exec.env ?? [:]).sorted(by: { $0.key < $1.key }) { items.append(URLQueryItem(name: "env", value: "\(name)=\(value)")) }
        if let dir = exec.workingDir { items.append(URLQueryItem(name: "workingDir", value: dir)) }
        if let user = exec.user { items.append(URLQueryItem(name: "user", value: user)) }
        if exec.tty == true { items.append(URLQueryItem(name: "tty", value: "true")) }
        if stdin { items.append(URLQueryItem(name: "stdin", value: "true")) }
        if let timeout = exec.timeout { items.append(URLQueryItem(name: "timeout", value: String(timeout))) }
        if let size {
            items.append(URLQueryItem(name: "cols", value: String(size.width)))
            items.append(URLQueryItem(name: "rows", value: String(size.height)))
        }
        return items
    }

    /// The query, percent-encoded (`+`, `&`, `=` and `;` as well, which URLComponents leaves alone in values).
    public var query: String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+&=;")
        return queryItems.map { item in
            "\(item.name)=\((item.value ?? "").addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }

    /// Reads a request from its query's decoded items (names case-insensitive); an unknown name, a repeated
    /// single-valued one, or a value that is not what its name takes is an error naming it.
    public init(queryItems: [(name: String, value: String)]) throws(QueryError) {
        var cmd: [String] = []
        var env: [String: String] = [:]
        var single: [String: String] = [:]
        for (name, value) in queryItems {
            let key = name.lowercased()
            switch key {
            case "cmd": cmd.append(value)
            case "env":
                guard let (variable, setting) = KeyValue.split(value) else {
                    throw QueryError("env takes NAME=VALUE, not '\(value.prefix(80))'")
                }
                guard env[variable] == nil else { throw QueryError("env names \(variable.prefix(80)) twice") }
                env[variable] = setting
            case "workingdir", "user", "tty", "stdin", "timeout", "cols", "rows":
                guard single[key] == nil else { throw QueryError("\(name) is given twice") }
                single[key] = value
            default:
                throw QueryError(
                    "unknown query parameter '\(name.prefix(80))': exec takes cmd, env, workingDir, user, tty, stdin, timeout, cols and rows")
            }
        }
        func flag(_ key: String) throws(QueryError) -> Bool {
            switch single[key]?.lowercased() {
            case nil, "false", "0": false
            case "true", "1", "": true
            case let other?: throw QueryError("\(key) takes true or false, not '\(other.prefix(40))'")
            }
        }
        func number(_ key: String) throws(QueryError) -> Int? {
            guard let text = single[key] else { return nil }
            guard let value = Int(text) else { throw QueryError("\(key) takes a number of characters, not '\(text.prefix(40))'") }
            return value
        }
        var timeout: Double?
        if let text = single["timeout"] {
            guard let seconds = Double(text), seconds.isFinite else { throw QueryError("timeout takes seconds, not '\(text.prefix(40))'") }
            timeout = seconds
        }
        var exec = ExecRequest(
            cmd: cmd, env: env.isEmpty ? nil : env, workingDir: single["workingdir"], user: single["user"], timeout: timeout)
        exec.tty = try flag("tty") ? true : nil
        self.exec = exec
        stdin = try flag("stdin")
        switch (try number("cols"), try number("rows")) {
        case (nil, nil): size = nil
        case (let width?, let height?):
            let size = TerminalSize(width: width, height: height)
            guard size.isValid else { throw QueryError("cols and rows must be 1 to 10000") }
            self.size = size
        default: throw QueryError("cols and rows go together")
        }
    }

    /// A query that does not make an exec request.
    public struct QueryError: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}
