import ArgumentParser
import Foundation
import GearAPI
import GearCertificates

/// `gear nats`: the broker side of gear's message bus.
struct NATS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats",
        abstract: "Set up a NATS broker (nats-server) for gear's message bus.",
        discussion: """
            Example:
              gear nats config --broker-cert pki/nats.crt --broker-key pki/nats.key --ca pki/ca.crt \\
                  --node pki/node1.crt --node pki/node2.crt --caller pki/orch.crt --out /etc/gear/nats.conf
              nats-server -c /etc/gear/nats.conf
            """,
        subcommands: [NATSConfig.self])
}

struct NATSConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Write a nats-server configuration that keeps each node to its own subjects.",
        discussion: """
            TLS with client certificates is required, and each certificate is a user by its subject (verify_and_map: \
            the subject as nats-server writes it, CN=node1,O=gear). A node (--node, named by its certificate's common \
            name) may subscribe only to its own requests (gear.v1.req.NODE.>) and the broadcasts (gear.v1.bcast.>), \
            and publish only replies that carry its name (gear.v1.rep.*.NODE.>). A caller (--caller) may publish \
            requests and broadcasts, and subscribe only to its own replies (gear.v1.rep.CALLER.>). A certificate the \
            CA signed that is neither is refused. nats-server reloads the users on SIGHUP: write the file again with \
            one more node and send it one. docs/nats.md.
            """)

    @Option(name: .long, help: "The broker's listen address, HOST:PORT.") var listen = "127.0.0.1:4222"
    @Option(name: .long, help: "The broker's certificate (PEM).") var brokerCert: String
    @Option(name: .long, help: "The broker's private key (PEM).") var brokerKey: String
    @Option(name: .long, help: "The CA (PEM) that signs the nodes' and callers' certificates.") var ca: String
    @Option(name: .long, help: "A node's certificate (PEM); repeat for each node.") var node: [String] = []
    @Option(name: .long, help: "A caller's certificate (PEM): gear, an orchestrator; repeat for each.") var caller: [String] = []
    @Option(name: .long, help: "The largest message, in bytes.") var maxPayload = 1024 * 1024
    @Option(name: .long, help: "Write here (atomically) instead of to standard output.") var out: String?

    func validate() throws {
        guard !node.isEmpty || !caller.isEmpty else { throw ValidationError("give at least one --node or --caller certificate") }
        guard (1024...(64 * 1024 * 1024)).contains(maxPayload) else { throw ValidationError("--max-payload must be 1024 to 67108864") }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65535).contains(port),
            !listen[..<colon].isEmpty, !listen.contains(where: { $0 == "\"" || $0 == "\\" || $0.isWhitespace })
        else { throw ValidationError("--listen must be HOST:PORT") }
    }

    func run() throws {
        var users: [BrokerUser] = []
        for (paths, role) in [(node, BrokerUser.Role.node), (caller, .caller)] {
            for path in paths {
                let user = try BrokerUser(certificate: path, role: role)
                if let other = users.first(where: { $0.subject == user.subject }) {
                    throw ValidationError("\(path) and \(other.path) have the same subject \(user.subject): each user needs its own")
                }
                if let other = users.first(where: { $0.role == role && $0.name == user.name }) {
                    throw ValidationError("\(path) and \(other.path) both name the \(role) \(user.name)")
                }
                users.append(user)
            }
        }
        let text = render(users)
        guard let out else { return print(text, terminator: "") }
        let temporary = out + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]),
            rename(temporary, out) == 0
        else {
            unlink(temporary)
            throw ValidationError("cannot write \(out)")
        }
        print("wrote \(out): \(users.filter { $0.role == .node }.count) nodes, \(users.filter { $0.role == .caller }.count) callers")
    }

    func render(_ users: [BrokerUser]) -> String {
        func absolute(_ path: String) -> String { quoted(URL(fileURLWithPath: path).standardizedFileURL.path) }
        var lines = [
            "# nats-server configuration for gear's message bus, written by gear nats config (docs/nats.md).",
            "# Each user is a certificate's subject; a node publishes only replies that carry its own name.",
            "listen: \(quoted(listen))",
            "max_payload: \(maxPayload)",
            "tls {",
            "  cert_file: \(absolute(brokerCert))",
            "  key_file: \(absolute(brokerKey))",
            "  ca_file: \(absolute(ca))",
            "  verify_and_map: true",
            "  timeout: 2",
            "}",
            "authorization {",
            "  users = [",
        ]
        for user in users {
            let (publish, subscribe) =
                user.role == .node
                ? (BusSubjects.nodePublications(user.name), BusSubjects.nodeSubscriptions(user.name))
                : (BusSubjects.callerPublications, BusSubjects.callerSubscriptions(user.name))
            lines.append("    # \(user.role) \(user.name)")
            lines.append(
                "    { user: \(quoted(user.subject)), permissions: { publish: { allow: \(list(publish)) }, subscribe: { allow: \(list(subscribe)) } } }"
            )
        }
        lines += ["  ]", "}"]
        return lines.joined(separator: "\n") + "\n"
    }

    func quoted(_ text: String) -> String { "\"\(text)\"" }
    func list(_ subjects: [String]) -> String { "[" + subjects.map(quoted).joined(separator: ", ") + "]" }
}

/// A certificate that becomes a broker user.
struct BrokerUser {
    enum Role: String, CustomStringConvertible {
        case node, caller
        var description: String { rawValue }
    }

    let path: String
    let role: Role
    /// The name in subjects: the certificate's common name.
    let name: String
    /// The subject as nats-server maps it to a user.
    let subject: String

    init(certificate path: String, role: Role) throws {
        let subject: String
        let commonName: String?
        do {
            (subject, commonName) = try DistinguishedNameText.subject(ofCertificateAt: path)
        } catch {
            throw ValidationError("cannot read the certificate \(path): \(error)")
        }
        guard let name = commonName else { throw ValidationError("\(path) has no common name to name the \(role) by") }
        if let problem = BusSubjects.problem(withName: name) { throw ValidationError("\(path): the \(role) name '\(name)' \(problem)") }
        guard !subject.contains(where: { $0 == "\"" || $0 == "\\" || $0.isNewline }) else {
            throw ValidationError("\(path): a subject with a quote or a backslash cannot be a broker user: \(subject)")
        }
        self.path = path
        self.role = role
        self.name = name
        self.subject = subject
    }
}
