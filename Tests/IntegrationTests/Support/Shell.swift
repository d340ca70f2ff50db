import Foundation

/// Runs a command with `/bin/sh -c` (systemctl, podman, curl as clients), or with another shell (bash for its
/// `/dev/tcp`), and returns its exit status and output.
@discardableResult
func sh(_ command: String, shell: String = "/bin/sh") throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: shell)
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// One property of a unit, as `systemctl show -p NAME --value` prints it.
func unitProperty(_ unit: String, _ name: String) throws -> String {
    try sh("systemctl show -p \(name) --value \(unit)").output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A container id unique to this test run.
func uniqueID(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())"
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// An HTTP exchange made with curl, the client people use.
struct CurlAnswer {
    var status: Int
    var headers: [String: String]
    var body: String

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(body.utf8))
    }
}

/// Sends a request with curl; the body is passed through a file so that any bytes arrive as given.
func curl(_ method: String, _ url: String, body: String? = nil, headers: [(String, String)] = [], options: String = "") throws -> CurlAnswer {
    let dir = NSTemporaryDirectory() + "curl-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var command = "curl -s -g --path-as-is \(options) -X \(method) -D \(dir)/headers -o \(dir)/body -w '%{http_code}'"
    for (name, value) in headers {
        command += " -H '\(name): \(value.replacingOccurrences(of: "'", with: "'\\''"))'"
    }
    if let body {
        try Data(body.utf8).write(to: URL(fileURLWithPath: "\(dir)/request"))
        command += " --data-binary @\(dir)/request"
    }
    command += " '\(url)'"
    let result = try sh(command)
    let headerText = (try? String(contentsOfFile: "\(dir)/headers", encoding: .utf8)) ?? ""
    var fields: [String: String] = [:]
    for line in headerText.split(separator: "\r\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return CurlAnswer(
        status: Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, headers: fields,
        body: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: "\(dir)/body"))) ?? Data(), as: UTF8.self))
}
