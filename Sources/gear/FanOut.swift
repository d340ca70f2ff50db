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
}
