import ArgumentParser
import Foundation
import GearAPI
import GearBus
import GearCertificates
import GearClient
import GearNATS
import Logging

/// Where gear reaches nodes over a NATS bus instead of HTTPS.
struct NATSOptions: ParsableArguments {
    @Option(name: .long, help: "Ask nodes over NATS brokers instead of HTTPS: tls://HOST:PORT[,...] (env GEAR_NATS; docs/nats.md).")
    var nats: String?

    @Option(name: .customLong("nats-wait"), help: "Seconds a broadcast (@all) waits for answers.")
    var natsWait: Double = 2

    @Option(name: .long, help: "With @all over NATS: a node that should answer (repeatable); those that do not are listed as silent.")
    var expect: [String] = []

    var url: String? { nats ?? ProcessInfo.processInfo.environment["GEAR_NATS"].flatMap { $0.isEmpty ? nil : $0 } }

    func validate() throws {
        guard natsWait > 0, natsWait <= 60 else { throw ValidationError("--nats-wait must be more than 0 and at most 60 seconds") }
        guard url != nil || expect.isEmpty else { throw ValidationError("--expect goes with --nats") }
    }

    /// A caller on the bus with the client certificate of `global` (its common name is the caller's name), connected.
    func connect(_ global: GlobalOptions) async throws -> (BusCaller, [Task<Void, any Error>]) {
        guard let url else { throw ValidationError("give the brokers: --nats tls://HOST:4222") }
        guard let files = global.tlsFiles else {
            throw ValidationError("the bus is reached with a client certificate: give --ca, --cert and --key (or GEAR_CA, GEAR_CERT, GEAR_KEY)")
        }
        do {
            let servers = try url.split(separator: ",").map { try NATSServerAddress(parsing: String($0)) }
            let (subject, commonName) = try DistinguishedNameText.subject(ofCertificateAt: files.certificate)
            guard let name = commonName, BusSubjects.problem(withName: name) == nil else {
                throw ValidationError("\(files.certificate) (\(subject)) has no common name that can name a caller on the bus")
            }
            var configuration = NATSConfiguration(
                servers: servers,
                tls: try NATSConfiguration.clientTLS(
                    certificateAuthority: files.certificateAuthority, certificate: files.certificate, key: files.key),
                name: name)
            configuration.reconnectDelay = (.milliseconds(100), .seconds(1))
            var logger = Logger(label: "gear")
            logger.logLevel = .error
            let client = try NATSClient(configuration: configuration, logger: logger)
            let caller = BusCaller(
                client: client, name: name, signer: try TokenSigner(certificateFile: files.certificate, keyFile: files.key),
                roots: try PEMFiles.readCertificates(files.certificateAuthority), logger: logger)
            let tasks = [Task { try await client.run() }, Task { try await caller.listen() }]
            let deadline = ContinuousClock.now + .seconds(global.timeout)
            while client.counters.connections == 0 {
                guard ContinuousClock.now < deadline else {
                    for task in tasks { task.cancel() }
                    throw ValidationError("cannot reach the broker \(url): \(client.status)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await client.flush()  // the reply subscription is in place before the first request
            return (caller, tasks)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("--nats: \(error)")
        }
    }
}

/// `gear status --nats`: NODE/ID locators asked one by one, `@all` broadcast to every node.
enum BusStatus {
    static func show(_ texts: [String], options: NATSOptions, global: GlobalOptions) async throws {
        let (caller, tasks) = try await options.connect(global)
        defer { for task in tasks { task.cancel() } }
        var rows = [["CONTAINER", "RUNTIME", "STARTED", "STATE", "SUB", "HEALTH", "PID", "RESTARTS", "PORTS"]]
        var failures: [String] = []
        func row(_ node: String, _ s: ContainerStatus) -> [String] {
            [
                "\(node)/\(s.id)", s.runtime, s.started ? "yes" : "no", s.activeState, s.subState, s.health?.status ?? "-",
                s.mainPID.map(String.init) ?? "-", String(s.restarts), s.ports.map(\.headerForm).joined(separator: ","),
            ]
        }
        func problem(_ answer: BusAnswer) -> String {
            let error = try? GearJSON.decoder().decode(APIError.self, from: Data(answer.body))
            return "\(error?.message ?? String(decoding: answer.body.prefix(200), as: UTF8.self)) (\(answer.status))"
        }
        let timeout = Duration.milliseconds(Int64(global.timeout * 1000))
        for text in texts {
            if text == "@all" {
                let answers = try await caller.broadcast(
                    operation: "container.list", method: "GET", path: "/containers", timeout: .milliseconds(Int64(options.natsWait * 1000)))
                for answer in answers.sorted(by: { $0.node < $1.node }) {
                    guard answer.status == 200, let list = try? GearJSON.decoder().decode(ContainerList.self, from: Data(answer.body)) else {
                        failures.append("\(answer.node): \(problem(answer))")
                        continue
                    }
                    rows += list.containers.map { row(answer.node, $0) }
                }
                let answered = Set(answers.map(\.node))
                for node in options.expect where !answered.contains(node) {
                    failures.append("\(node): silent (no answer within \(options.natsWait) s)")
                }
                continue
            }
            let locator: Locator
            do {
                locator = try Locator(parsing: text)
            } catch {
                throw ValidationError(error.description)
            }
            guard let node = locator.host else { throw ValidationError("over NATS, name the node: NODE/ID (\(text))") }
            do {
                let answer = try await caller.request(
                    node: node, operation: "container.read", method: "GET", path: "/container/\(locator.id)/status", timeout: timeout)
                guard answer.status == 200, let status = try? GearJSON.decoder().decode(ContainerStatus.self, from: Data(answer.body)) else {
                    failures.append("\(node)/\(locator.id): \(problem(answer))")
                    continue
                }
                rows.append(row(node, status))
            } catch {
                failures.append("\(node)/\(locator.id): no answer within \(global.timeout) s")
            }
        }
        let output = Output(options: global)
        if rows.count > 1 { output.print(Output.table(rows)) }
        if caller.rejected > 0 {
            FileHandle.standardError.write(Data("gear: \(caller.rejected) answers refused (not signed by a node asked)\n".utf8))
        }
        for failure in failures { FileHandle.standardError.write(Data("gear: \(failure)\n".utf8)) }
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
