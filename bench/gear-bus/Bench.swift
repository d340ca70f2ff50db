// gear-bus-bench: a broadcast on the bus to many responders in one process (bench/bus.sh). Each responder is a
// NATS connection with its own node certificate; signed, it verifies the request and signs its answer as geard's
// transport does, and the caller (GearBus.BusCaller) verifies every answer; plain, the same round trip with neither
// (the floor of the broker and the client). Prints p50/p99/max of the time until every responder's answer is in.
//
//     gear-bus-bench certs DIR N                      CA, caller and N node certificates in DIR (node0..)
//     gear-bus-bench run DIR URL N ROUNDS signed|plain

import Foundation
import GearAPI
import GearAuthorization
import GearBus
import GearCertificates
import GearNATS
import Logging

@main
enum Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        switch arguments.dropFirst().first {
        case "certs":
            try certs(directory: arguments[2], nodes: Int(arguments[3])!)
        case "run":
            try await run(
                directory: arguments[2], url: arguments[3], nodes: Int(arguments[4])!, rounds: Int(arguments[5])!, signed: arguments[6] == "signed")
        default:
            print("usage: gear-bus-bench certs DIR N | run DIR URL N ROUNDS signed|plain")
            exit(64)
        }
    }

    static func certs(directory: String, nodes: Int) throws {
        let ca = try CertificateAuthority.create(commonName: "bench CA")
        _ = try PEMFiles.write(certificate: ca.certificate, key: ca.privateKey, name: "ca", directory: directory, overwrite: true)
        _ = try PEMFiles.write(try ca.issue(.node("nats", ipAddresses: [[127, 0, 0, 1]])), name: "nats", directory: directory)
        _ = try PEMFiles.write(try ca.issue(.client("orch", role: "admin")), name: "orch", directory: directory)
        for index in 0..<nodes { _ = try PEMFiles.write(try ca.issue(.node("node\(index)")), name: "node\(index)", directory: directory) }
    }

    static func client(_ directory: String, _ name: String, _ url: String) throws -> NATSClient {
        var configuration = NATSConfiguration(
            servers: [try NATSServerAddress(parsing: url)],
            tls: try NATSConfiguration.clientTLS(
                certificateAuthority: "\(directory)/ca.crt", certificate: "\(directory)/\(name).crt", key: "\(directory)/\(name).key"),
            name: name)
        configuration.subscriptionBuffer = 100_000
        var logger = Logger(label: name)
        logger.logLevel = .error
        return try NATSClient(configuration: configuration, logger: logger)
    }

    static func run(directory: String, url: String, nodes: Int, rounds: Int, signed: Bool) async throws {
        let roots = try PEMFiles.readCertificates("\(directory)/ca.crt")
        let chains = ChainCache()  // as geard's transport keeps one
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let orchClient = try client(directory, "orch", url)
        let caller = BusCaller(
            client: orchClient, name: "orch", signer: try TokenSigner(certificateFile: "\(directory)/orch.crt", keyFile: "\(directory)/orch.key"),
            roots: roots, logger: logger)
        var tasks: [Task<Void, any Error>] = [Task { try await orchClient.run() }]
        if signed { tasks.append(Task { try await caller.listen() }) }
        let plainReplies = signed ? nil : try await orchClient.subscribe(to: "gear.v1.rep.orch.>")
        let connectStart = ContinuousClock.now
        var responders: [NATSClient] = []
        for index in 0..<nodes {
            let name = "node\(index)"
            let client = try client(directory, name, url)
            let signer = try TokenSigner(certificateFile: "\(directory)/\(name).crt", keyFile: "\(directory)/\(name).key")
            let requests = try await client.subscribe(to: "gear.v1.bcast.>")
            responders.append(client)
            tasks.append(Task { try await client.run() })
            tasks.append(
                Task {
                    for try await message in requests {
                        let body = Array(#"{"containers":[]}"#.utf8)
                        if signed {
                            guard let text = message.headers?[BusRequest.header], let request = try? BusRequest(parsing: text),
                                (try? await request.verify(
                                    node: name, subject: message.subject, replyTo: nil, body: message.payload, roots: roots, cache: chains)) != nil
                            else { continue }
                            var headers = NATSHeaders()
                            let claims = BusReply.Claims(
                                rid: request.claims.rid, caller: "orch", node: name, status: 200, sha256: BusRequest.digest(body),
                                iat: Int64(Date().timeIntervalSince1970))
                            try headers.append(BusReply.header, try BusReply.sign(claims, signer: signer))
                            try await client.publish(body, to: request.replySubject(node: name), headers: headers)
                        } else {
                            let rid = String(decoding: message.payload, as: UTF8.self)
                            try await client.publish(body, to: "gear.v1.rep.orch.\(name).\(rid)")
                        }
                    }
                })
        }
        for client in responders + [orchClient] {
            while client.counters.connections == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        for client in responders + [orchClient] { try await client.flush(timeout: .seconds(30)) }
        let connected = ContinuousClock.now - connectStart
        var times: [Double] = []
        var short = 0
        var replies = plainReplies?.makeAsyncIterator()
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            if signed {
                let answers = try await caller.broadcast(
                    operation: "container.list", method: "GET", path: "/containers", timeout: .seconds(10), expected: nodes)
                if answers.count < nodes { short += 1 }
            } else {
                let rid = UUID().uuidString.lowercased()
                try await orchClient.publish(Array(rid.utf8), to: "gear.v1.bcast.container.list")
                var count = 0
                while count < nodes, let message = try await replies?.next() {
                    if message.subject.hasSuffix(rid) { count += 1 }
                }
            }
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        times.sort()
        func percentile(_ p: Double) -> Double { times[min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1)] }
        print(
            String(
                format:
                    "%@ broadcast to %d responders, %d rounds: p50 %.1f ms, p99 %.1f ms, max %.1f ms; incomplete rounds %d; rejected answers %d; %d connections made in %.1f s",
                signed ? "signed" : "plain", nodes, rounds, percentile(0.5) * 1000, percentile(0.99) * 1000, times.last! * 1000, short,
                caller.rejected,
                nodes + 1, Double(connected.components.seconds) + Double(connected.components.attoseconds) / 1e18))
        for task in tasks { task.cancel() }
    }
}
