import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real etcd (Debian's etcd-server) for the tests of the pull model: TLS with client certificates
/// (`--client-cert-auth`), authentication on, the `root` user signing in with its certificate, and every other
/// certificate made by `gear certs`. Its data directory and port are its own.
final class EtcdServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is replaced only by `restart`, which tests call from one task.
    let pki: String
    let port: Int
    let dataDir: String
    private(set) var process: Process
    let logPath: String
    var url: String { "https://127.0.0.1:\(port)" }

    private init(pki: String, port: Int, dataDir: String, process: Process, logPath: String) {
        self.pki = pki
        self.port = port
        self.dataDir = dataDir
        self.process = process
        self.logPath = logPath
    }

    /// The address etcd also serves on: the test hosts' bridge (contrib/sandbox/test-hosts.sh), so that geards in
    /// their network namespaces reach it.
    static let bridgeAddress = "10.77.0.254"

    /// A fresh etcd with a CA, its own server certificate, the root user, and authentication enabled, on loopback and
    /// on the test hosts' bridge.
    static func start() async throws -> EtcdServer {
        let up = try sh("contrib/sandbox/test-hosts.sh up 9")
        guard up.status == 0 else { throw TestFailure("test hosts: \(up.output)") }
        let tag = UUID().uuidString.prefix(8).lowercased()
        let pki = "/tmp/gear-etcd-pki-\(tag)"
        for command in [
            "certs init --out \(pki)", "certs issue node etcd --ip 127.0.0.1 --ip \(bridgeAddress) --out \(pki)",
            "certs issue client root --role admin --out \(pki)",
        ] {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        let port = GeardProcess.freePort()
        let dataDir = "/var/lib/gear-etcd-\(tag)"
        let log = "/tmp/etcd-\(tag).log"
        let server = EtcdServer(pki: pki, port: port, dataDir: dataDir, process: try launch(pki, port, dataDir, log), logPath: log)
        try await server.waitUntilServing()
        for command in ["user add root --no-password", "user grant-role root root", "auth enable"] {
            let result = try server.etcdctl(command)
            guard result.status == 0 else { throw TestFailure("etcdctl \(command): \(result.output)") }
        }
        return server
    }

    private static func launch(_ pki: String, _ port: Int, _ dataDir: String, _ log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        let peer = GeardProcess.freePort()
        process.arguments = [
            "--name", "test", "--data-dir", dataDir, "--listen-client-urls", "https://127.0.0.1:\(port),https://\(bridgeAddress):\(port)",
            "--advertise-client-urls", "https://127.0.0.1:\(port)", "--listen-peer-urls", "http://127.0.0.1:\(peer)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)", "--initial-cluster", "test=http://127.0.0.1:\(peer)",
            "--cert-file", "\(pki)/etcd.crt", "--key-file", "\(pki)/etcd.key", "--trusted-ca-file", "\(pki)/ca.crt", "--client-cert-auth",
            "--max-txn-ops", "1024",
        ]
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
            if !process.isRunning { throw TestFailure("etcd exited; log:\n\(log())") }
            if try etcdctl("endpoint health").status == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("etcd did not answer within \(timeout); log:\n\(log())")
    }

    /// Kills etcd (SIGKILL) and starts it again on the same data.
    func restart(after pause: Duration = .zero) async throws {
        kill()
        try await Task.sleep(for: pause)
        process = try Self.launch(pki, port, dataDir, logPath)
        try await waitUntilServing()
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// etcdctl signed in with the certificate `pki/USER.crt` (its common name is the etcd user).
    @discardableResult
    func etcdctl(_ arguments: String, as user: String = "root") throws -> (status: Int32, output: String) {
        try sh(
            "ETCDCTL_API=3 etcdctl --endpoints \(url) --cacert \(pki)/ca.crt --cert \(pki)/\(user).crt --key \(pki)/\(user).key \(arguments) 2>&1")
    }

    /// Writes `value` at `key` as root (an orchestrator's write).
    func put(_ key: String, _ value: String) throws {
        let file = NSTemporaryDirectory() + "etcd-value-\(UUID().uuidString)"
        try Data(value.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try sh(
            "ETCDCTL_API=3 etcdctl --endpoints \(url) --cacert \(pki)/ca.crt --cert \(pki)/root.crt --key \(pki)/root.key put '\(key)' < \(file) 2>&1"
        )
        guard result.status == 0 else { throw TestFailure("etcdctl put \(key): \(result.output)") }
    }

    /// The value at `key` as root, or nil.
    func get(_ key: String) throws -> String? {
        let result = try etcdctl("get --print-value-only '\(key)'")
        guard result.status == 0 else { throw TestFailure("etcdctl get \(key): \(result.output)") }
        let value = result.output.hasSuffix("\n") ? String(result.output.dropLast()) : result.output
        return value.isEmpty ? nil : value
    }

    /// The keys under `prefix` as root.
    func keys(_ prefix: String) throws -> [String] {
        let result = try etcdctl("get --prefix --keys-only '\(prefix)'")
        return result.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// A node: its certificate (common name NAME, for `address`), and its etcd user and role from `gear etcd grant`.
    func addNode(_ name: String, address: String = "127.0.0.1") throws {
        for command in [
            "certs issue node \(name) --ip \(address) --out \(pki)",
            "etcd grant --etcd \(url) --ca \(pki)/ca.crt --cert \(pki)/root.crt --key \(pki)/root.key \(name)",
        ] {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
    }

    /// The flags that make a geard follow this etcd as node `name` (from a test host: through the bridge).
    func geardArguments(_ name: String, ttl: Int = 10, throughBridge: Bool = false) -> [String] {
        [
            "--etcd", throughBridge ? "https://\(Self.bridgeAddress):\(port)" : url, "--etcd-cert", "\(pki)/\(name).crt", "--etcd-key",
            "\(pki)/\(name).key", "--etcd-ca", "\(pki)/ca.crt",
            "--etcd-lease-ttl", "\(ttl)",
        ]
    }
}
