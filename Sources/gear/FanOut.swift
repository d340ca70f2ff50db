import Foundation
import GearClient

/// Runs one call per locator: calls to different geards run in parallel, calls to one geard in the order given.
enum FanOut {
    struct Outcome<T: Sendable>: Sendable {
        var locator: Locator
        var endpoint: GearEndpoint
        var result: Result<T, any Error>
    }

    static func run<T: Sendable>(
        _ locators: [Locator], options: GlobalOptions, _ call: @escaping @Sendable (GearClient, Locator) async throws -> T
    ) async -> [Outcome<T>] {
        var byEndpoint: [GearEndpoint: [(Int, Locator)]] = [:]
        var order: [GearEndpoint] = []
        for (index, locator) in locators.enumerated() {
            let endpoint = locator.endpoint(options)
            if byEndpoint[endpoint] == nil { order.append(endpoint) }
            byEndpoint[endpoint, default: []].append((index, locator))
        }
        var results = [Outcome<T>?](repeating: nil, count: locators.count)
        await withTaskGroup(of: [(Int, Outcome<T>)].self) { group in
            for endpoint in order {
                let client = Result { try options.client(for: endpoint) }
                let items = byEndpoint[endpoint]!
                group.addTask {
                    var done: [(Int, Outcome<T>)] = []
                    for (index, locator) in items {
                        let result: Result<T, any Error>
                        do {
                            result = .success(try await call(try client.get(), locator))
                        } catch {
                            result = .failure(error)
                        }
                        done.append((index, Outcome(locator: locator, endpoint: endpoint, result: result)))
                    }
                    return done
                }
            }
            for await batch in group {
                for (index, outcome) in batch { results[index] = outcome }
            }
        }
        return results.compactMap { $0 }
    }

    /// Runs a streaming command (`gear run`, `gear exec`) on every locator at once, each printing its own output with
    /// the prefix it is given: "" with one locator, "LABEL: " with several. Answers the code gear exits with: the only
    /// call's, or with several 0 when every call answered 0 and 1 otherwise. A call that throws prints
    /// `gear: LABEL: error` on stderr and counts as 1.
    static func exitCode(
        _ locators: [Locator], options: GlobalOptions, label: @escaping @Sendable (GearEndpoint, Locator) -> String,
        _ call: @escaping @Sendable (_ client: GearClient, _ locator: Locator, _ prefix: String) async throws -> Int32
    ) async -> Int32 {
        let single = locators.count == 1
        let codes = await withTaskGroup(of: Int32.self) { group in
            for locator in locators {
                group.addTask {
                    let endpoint = locator.endpoint(options)
                    let name = label(endpoint, locator)
                    do {
                        return try await call(try options.client(for: endpoint), locator, single ? "" : name + ": ")
                    } catch {
                        FileHandle.standardError.write(Data("gear: \(name): \(Output.describe(error))\n".utf8))
                        return 1
                    }
                }
            }
            var codes: [Int32] = []
            for await code in group { codes.append(code) }
            return codes
        }
        return single ? (codes.first ?? 1) : (codes.allSatisfy { $0 == 0 } ? 0 : 1)
    }
}
