import AsyncHTTPClient
import Foundation
import GearAPI
import GearClient
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// Integration tests run inside the project's systemd sandbox (`make test`), against the real geard binary, real
/// systemd, journald and podman. Outside the sandbox they are skipped; CI runs them inside and counts them.
enum Sandbox {
    static let enabled = ProcessInfo.processInfo.environment["GEAR_INTEGRATION"] == "1"

    /// The geard binary under test.
    static var geardPath: String {
        ProcessInfo.processInfo.environment["GEARD_BIN"] ?? FileManager.default.currentDirectoryPath + "/.build/debug/geard"
    }

    static var gearPath: String {
        ProcessInfo.processInfo.environment["GEAR_BIN"] ?? FileManager.default.currentDirectoryPath + "/.build/debug/gear"
    }

    static var orchestratorPath: String {
        ProcessInfo.processInfo.environment["GEAR_ORCHESTRATOR_BIN"] ?? FileManager.default.currentDirectoryPath + "/.build/debug/gear-orchestrator"
    }
}

/// A geard started for a test: its own state directory and TCP port, no unix socket unless asked.
final class GeardProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is replaced only by `restart`, which tests call from one task.
    let port: Int
    let stateDir: String
    let extraArguments: [String]
    private(set) var process: Process
    let client: GearClient
    let logPath: String

    private init(port: Int, stateDir: String, extraArguments: [String], process: Process, logPath: String) {
        self.port = port
        self.stateDir = stateDir
        self.extraArguments = extraArguments
        self.process = process
        self.logPath = logPath
        self.client = GearClient(endpoint: .http(host: "127.0.0.1", port: port))
    }

    /// Starts a geard and waits until it answers.
    static func start(stateDir: String? = nil, port: Int? = nil, arguments: [String] = []) async throws -> GeardProcess {
        let dir = stateDir ?? "/var/lib/gear-test-\(UUID().uuidString.prefix(8).lowercased())"
        let port = port ?? freePort()
        let log = "/tmp/geard-\(port).log"
        let process = try launch(port: port, stateDir: dir, arguments: arguments, log: log)
        let geard = GeardProcess(port: port, stateDir: dir, extraArguments: arguments, process: process, logPath: log)
        try await geard.waitUntilServing()
        return geard
    }

    private static func launch(port: Int, stateDir: String, arguments: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Sandbox.geardPath)
        process.arguments = ["--listen", "127.0.0.1:\(port)", "--socket", "none", "--state-dir", stateDir] + arguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    func waitUntilServing(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw TestFailure("geard exited with \(process.terminationStatus); log:\n\(log())") }
            if let answer = try? await client.send(.GET, "/containers"), answer.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("geard did not answer within \(timeout); log:\n\(log())")
    }

    /// Stops geard with `signal` and waits for it to exit.
    func stop(signal: Int32 = SIGTERM) async {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Stops geard (by `signal`) and starts it again on the same state directory and port.
    func restart(signal: Int32 = SIGTERM) async throws {
        await stop(signal: signal)
        process = try Self.launch(port: port, stateDir: stateDir, arguments: extraArguments, log: logPath)
        try await waitUntilServing()
    }

    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// A TCP port nothing listens on now, below the ephemeral range (32768-60999): an ephemeral port may be taken
    /// by an outgoing connection's source port between this check and geard's bind, or while a test restarts geard
    /// on the same port. 30000-32699, away from the containers' test ports (20000-29999) and the API fuzz's geard
    /// (31470-31479).
    static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 30000..<32700)
            if (31470..<31480).contains(port) { continue }
            if canBind(port) { return port }
        }
        return 0
    }

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var reuse: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// The geard most tests share (started once per test run).
enum SharedGeard {
    private static let started = Task { try await GeardProcess.start(stateDir: "/var/lib/gear-shared") }

    static func get() async throws -> GeardProcess { try await started.value }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
