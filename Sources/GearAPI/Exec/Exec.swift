public import Foundation

/// The body of `POST /container/{id}/exec`: a command to run inside a running container. Field names are read
/// case-insensitively (`Cmd`, `cmd`).
public struct ExecRequest: Sendable, Hashable, Codable {
    /// The program and its arguments (a name is looked up in the container's `PATH`).
    public var cmd: [String]
    /// Variables added to the container's own environment for this command.
    public var env: [String: String]?
    /// The directory it runs in (absolute; default the container's own).
    public var workingDir: String?
    /// The user it runs as, a name or a number: podman containers only (an exec container's command runs as the
    /// container's own user).
    public var user: String?
    /// A terminal: only the interactive form (`GET /container/{id}/exec` as a WebSocket) has one; refused in a body.
    public var tty: Bool?
    /// Seconds before the command is killed (default 300, at most 3600).
    public var timeout: Double?

    public init(cmd: [String], env: [String: String]? = nil, workingDir: String? = nil, user: String? = nil, timeout: Double? = nil) {
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
        self.timeout = timeout
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["cmd", "env", "workingdir", "user", "tty", "timeout"])
        guard let cmd = try object.decode([String].self, "cmd") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("Cmd"), .init(codingPath: decoder.codingPath, debugDescription: "Cmd is required: the program and its arguments"))
        }
        self.cmd = cmd
        env = try object.decode([String: String].self, "env")
        workingDir = try object.decode(String.self, "workingdir")
        user = try object.decode(String.self, "user")
        tty = try object.decode(Bool.self, "tty")
        timeout = try object.decode(Double.self, "timeout")
    }

    private enum CodingKeys: String, CodingKey {
        case cmd = "Cmd", env = "Env", workingDir = "WorkingDir", user = "User", tty = "Tty", timeout = "Timeout"
    }
}

/// One frame of an exec's output as NDJSON: a piece of stdout or stderr as it came, and at the end the exit.
public struct ExecFrame: Sendable, Hashable, Codable {
    /// `stdout`, `stderr`, or `exit` (the last frame).
    public var stream: String
    /// The bytes as text (invalid UTF-8 replaced by U+FFFD; then `dataBase64` holds them exactly).
    public var data: String?
    public var dataBase64: String?
    /// The exit: the command's exit code, or the signal that ended it.
    public var exitCode: Int?
    public var signal: Int?
    /// Why it ended early (`timeout`), or why it could not run.
    public var error: String?

    public init(
        stream: String, data: String? = nil, dataBase64: String? = nil, exitCode: Int? = nil, signal: Int? = nil, error: String? = nil
    ) {
        self.stream = stream
        self.data = data
        self.dataBase64 = dataBase64
        self.exitCode = exitCode
        self.signal = signal
        self.error = error
    }

    /// The frame's exact bytes.
    public var bytes: Data { dataBase64.flatMap { Data(base64Encoded: $0) } ?? Data((data ?? "").utf8) }
}
