import Foundation
import GearBus
import GearCertificates
import GearNATS
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A real nats-server (Debian's nats-server) configured by `gear nats config`: TLS with client certificates, each
/// certificate a user by its subject, nodes kept to their own subjects. Its PKI comes from `gear certs`.
final class NATSBroker: @unchecked Sendable {
    // @unchecked Sendable: `process` is replaced only by `restart`, which tests call from one task.
    let pki: String
    let port: Int
    let configPath: String
    let logPath: String
    private(set) var process: Process
    var url: String { "tls://127.0.0.1:\(port)" }

    private init(pki: String, port: Int, configPath: String, logPath: String, process: Process) {
        self.pki = pki
        self.port = port
        self.configPath = configPath
        self.logPath = logPath
        self.process = process
    }

    /// A broker whose users are the certificates of `nodes` and `callers` (admins, and `readers` with the reader
    /// role), issued here by a fresh CA.
    static func start(nodes: [String], callers: [String], readers: [String] = []) async throws -> NATSBroker {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let pki = "/tmp/gear-nats-pki-\(tag)"
        var commands = ["certs init --out \(pki)", "certs issue node nats --ip 127.0.0.1 --out \(pki)"]
        commands += nodes.map { "certs issue node \($0) --out \(pki)" }
        commands += callers.map { "certs issue client \($0) --role admin --out \(pki)" }
        commands += readers.map { "certs issue client \($0) --role reader --out \(pki)" }
        for command in commands {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        let port = GeardProcess.freePort()
        let broker = NATSBroker(
            pki: pki, port: port, configPath: "\(pki)/nats.conf", logPath: "/tmp/nats-\(tag).log", process: Process())
        try broker.configure(nodes: nodes, callers: callers + readers)
        try await broker.launch()
        return broker
    }

    /// Writes the configuration with `gear nats config` for these nodes and callers.
    func configure(nodes: [String], callers: [String]) throws {
        let users = nodes.map { "--node \(pki)/\($0).crt" } + callers.map { "--caller \(pki)/\($0).crt" }
        let command =
            "\(Sandbox.gearPath) nats config --listen 127.0.0.1:\(port) --broker-cert \(pki)/nats.crt --broker-key \(pki)/nats.key "
            + "--ca \(pki)/ca.crt \(users.joined(separator: " ")) --out \(configPath)"
        let result = try sh(command)
        guard result.status == 0 else { throw TestFailure("gear nats config: \(result.output)") }
    }

    func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nats-server")
        process.arguments = ["-c", configPath]
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw TestFailure("nats-server exited; log:\n\(log())") }
            if log().contains("Server is ready") { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("nats-server was not ready within 10 s; log:\n\(log())")
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends SIGHUP: nats-server reloads its configuration.
    func reload() { Glibc.kill(process.processIdentifier, SIGHUP) }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// A client that presents `pki/NAME.crt` (or another PKI's), not yet running.
    func client(_ name: String, pki: String? = nil) throws -> NATSClient {
        let directory = pki ?? self.pki
        var configuration = NATSConfiguration(
            servers: [try NATSServerAddress(parsing: url)],
            tls: try NATSConfiguration.clientTLS(
                certificateAuthority: "\(self.pki)/ca.crt", certificate: "\(directory)/\(name).crt", key: "\(directory)/\(name).key"),
            name: name)
        configuration.reconnectDelay = (.milliseconds(50), .milliseconds(200))
        return try NATSClient(configuration: configuration, logger: Logger(label: "nats.\(name)"))
    }

    /// A caller on the bus as `name`, not yet listening.
    func caller(_ name: String) throws -> (BusCaller, NATSClient) {
        let client = try client(name)
        let signer = try TokenSigner(certificateFile: "\(pki)/\(name).crt", keyFile: "\(pki)/\(name).key")
        let caller = BusCaller(
            client: client, name: name, signer: signer, roots: try PEMFiles.readCertificates("\(pki)/ca.crt"), logger: Logger(label: "bus.\(name)"))
        return (caller, client)
    }

    deinit { kill() }
}
