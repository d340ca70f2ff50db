import ArgumentParser
import Foundation
import GearClient

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The geard to use for locators without a host: HOST[:PORT] over HTTP, or a unix socket path (env GEAR_HOST).")
    var host: String?

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
    }

    /// The endpoint for locators without a host.
    var defaultEndpoint: GearEndpoint {
        let text = host ?? ProcessInfo.processInfo.environment["GEAR_HOST"]
        guard let text, !text.isEmpty else { return .local }
        if text.hasPrefix("/") { return .unix(path: text) }
        if let locator = try? Locator(parsing: text + "/x"), let host = locator.host {
            return .http(host: host, port: locator.port ?? Locator.defaultPort)
        }
        return .http(host: text, port: Locator.defaultPort)
    }

    func client(for endpoint: GearEndpoint) -> GearClient {
        GearClient(endpoint: endpoint, timeout: .milliseconds(Int64(timeout * 1000)))
    }
}
