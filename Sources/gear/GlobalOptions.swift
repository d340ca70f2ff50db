import ArgumentParser
import AsyncHTTPClient
import Foundation
import GearClient
import Synchronization

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "A configuration file (JSON: host, ca, cert, key, token, hosts, groups); default ~/.config/gear/config.json (env GEAR_CONFIG).")
    var config: String?

    @Option(name: .long, help: "The geard to use for locators without a host: HOST[:PORT] over HTTP, or a unix socket path (env GEAR_HOST).")
    var host: String?

    @Option(name: .long, help: "CA certificate (PEM) that nodes' certificates chain to; with --cert, hosts are called over HTTPS (env GEAR_CA).")
    var ca: String?

    @Option(name: .long, help: "Client certificate (PEM) to present to nodes over HTTPS (env GEAR_CERT).")
    var cert: String?

    @Option(name: .long, help: "Private key (PEM) of --cert (env GEAR_KEY).")
    var key: String?

    @Option(name: .long, help: "A delegation token to present over HTTPS, from gear token issue (env GEAR_TOKEN).")
    var token: String?

    @Option(name: .long, help: "table (default) or json.")
    var output: OutputFormat = .table

    @Flag(name: [.short, .long], help: "Print nothing but errors.")
    var quiet = false

    @Option(name: .customLong("request-id"), help: "The X-Request-Id to send (32 hex characters or a UUID); retrying with the same id is safe.")
    var requestID: String?

    @Option(name: .long, help: "Seconds to wait for an answer from each geard.")
    var timeout: Double = 120

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    func validate() throws {
        if let requestID {
            let hex = requestID.count == 32 && requestID.allSatisfy(\.isHexDigit)
            let uuid = UUID(uuidString: requestID) != nil
            guard hex || uuid else { throw ValidationError("--request-id must be 32 hexadecimal characters or a UUID") }
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        _ = try GearConfig.load(explicit: config)
        let given = [tlsValue(ca, "GEAR_CA"), tlsValue(cert, "GEAR_CERT"), tlsValue(key, "GEAR_KEY")].compactMap { $0 }.count
        guard given == 0 || given == 3 else { throw ValidationError("HTTPS needs all of --ca, --cert and --key (or GEAR_CA, GEAR_CERT, GEAR_KEY)") }
    }

    /// The configuration file's settings (empty when there is none; `validate` reported a bad one).
    var settings: GearConfig { (try? GearConfig.load(explicit: config)) ?? GearConfig() }

    /// A flag, else its environment variable, else the configuration file's value.
    private func tlsValue(_ flag: String?, _ variable: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return value }
        let settings = self.settings
        switch variable {
        case "GEAR_CA": return settings.ca
        case "GEAR_CERT": return settings.cert
        case "GEAR_KEY": return settings.key
        case "GEAR_TOKEN": return settings.token
        default: return nil
        }
    }

    /// Locators from the command line, `@group/id` expanded to one per host of the group.
    func locators(_ texts: [String], takesCommand: Bool = false) throws -> [Locator] {
        if !takesCommand, CommandTail.arguments != nil {
            throw ValidationError("'--' is only for gear install, exec and run (the command)")
        }
        let settings = self.settings
        var result: [Locator] = []
        for text in texts {
            for expanded in try settings.expand(text) {
                do {
                    result.append(try Locator(parsing: expanded))
                } catch {
                    throw ValidationError(error.description)
                }
            }
        }
        return result
    }

    /// The client certificate material, when hosts are to be called over HTTPS.
    var tlsFiles: ClientTLSFiles? {
        guard let ca = tlsValue(ca, "GEAR_CA"), let cert = tlsValue(cert, "GEAR_CERT"), let key = tlsValue(key, "GEAR_KEY") else { return nil }
        return ClientTLSFiles(certificateAuthority: ca, certificate: cert, key: key)
    }

    /// The endpoint of a host: HTTPS (default port 43274) when TLS material is given, else plain HTTP (43273).
    func endpoint(host: String, port: Int?) -> GearEndpoint {
        let (host, port) = settings.address(of: host, port: port)
        return tlsFiles == nil ? .http(host: host, port: port ?? Locator.defaultPort) : .https(host: host, port: port ?? Locator.defaultTLSPort)
    }

    /// The endpoint for locators without a host.
    var defaultEndpoint: GearEndpoint {
        let environment = ProcessInfo.processInfo.environment["GEAR_HOST"].flatMap { $0.isEmpty ? nil : $0 }
        let text = host ?? environment ?? settings.host
        guard let text, !text.isEmpty else { return .local }
        if text.hasPrefix("/") { return .unix(path: text) }
        if let locator = try? Locator(parsing: text + "/x"), let host = locator.host {
            return endpoint(host: host, port: locator.port)
        }
        return endpoint(host: text, port: nil)
    }

    /// A client of `endpoint`; over HTTPS it presents the client certificate. Throws when the TLS files cannot be
    /// read.
    func client(for endpoint: GearEndpoint) throws -> GearClient {
        let timeout = Duration.milliseconds(Int64(timeout * 1000))
        guard case .https = endpoint, let files = tlsFiles else { return GearClient(endpoint: endpoint, timeout: timeout) }
        var client = GearClient(endpoint: endpoint, httpClient: try TLSClients.client(for: files), timeout: timeout)
        client.tlsFiles = files
        client.bearerToken = tlsValue(token, "GEAR_TOKEN")
        return client
    }
}

/// One HTTPS client per set of TLS files for the life of the process (gear runs one command and exits).
enum TLSClients {
    private static let clients = Mutex<[ClientTLSFiles: HTTPClient]>([:])

    static func client(for files: ClientTLSFiles) throws -> HTTPClient {
        try clients.withLock { clients in
            if let client = clients[files] { return client }
            let client = try GearClient.makeHTTPClient(tls: files)
            clients[files] = client
            return client
        }
    }
}
