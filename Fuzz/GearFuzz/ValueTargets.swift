import Foundation
import GearAPI
import GearClient

@testable import GearCore
@testable import GearHTTP

/// Short values: sizes, memory limits, waits, log times and line counts, ids, locators.
enum ValueTargets {
    static func values(_ input: [UInt8]) {
        guard let text = input.text else { return }
        if let size = FileLimits.size(text), size <= 0 { violated("size \(size) from \(text.debugDescription)", input) }
        if let memory = try? ContainerSpec.parseMemory(text), memory < ContainerSpec.Limits.minMemory {
            violated("memory \(memory) below the minimum", input)
        }
        if let wait = try? JobResponses.parseWait(text, from: "wait"), !(0...JobResponses.maxWait).contains(wait) {
            violated("wait \(wait)", input)
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        if let query = try? LogQuery(lines: text, since: nil, until: nil, cursor: nil, follow: false, now: now), let lines = query.lines,
            !(0...LogQuery.maxLines).contains(lines)
        {
            violated("lines \(lines)", input)
        }
        // What the journal seeks to: since, and the entry after until.
        if let since = try? LogQuery(lines: nil, since: text, until: nil, cursor: nil, follow: false, now: now).since {
            _ = LogStream.microseconds(since)
        }
        if let until = try? LogQuery(lines: "10", since: nil, until: text, cursor: nil, follow: true, now: now).until {
            _ = LogStream.microseconds(until) + 1
        }
        _ = try? LogQuery(lines: nil, since: nil, until: nil, cursor: text, follow: true, now: now)
        if let id = try? ContainerID(text) {
            checkUnitName(id.unitName, input)
            let user = Array(id.execUserName.utf8)
            guard (1...31).contains(user.count), user[0] != UInt8(ascii: "-"),
                user.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
            else { violated("container \(id) runs as user \(id.execUserName.debugDescription), not a portable user name", input) }
        }
        if let id = try? EnvironmentID(text), id.rawValue != text { violated("environment id \(id) from \(text.debugDescription)", input) }
        if let locator = try? Locator(parsing: text) {
            guard let again = try? Locator(parsing: locator.description), again == locator else {
                violated("locator \(text.debugDescription) is written \(locator.description.debugDescription), which reads otherwise", input)
            }
        }
    }

    /// A unit name systemd takes as it is: `[A-Za-z0-9:_.\-]` and a known suffix, at most 255 bytes.
    static func checkUnitName(_ name: String, _ input: [UInt8]) {
        let bytes = Array(name.utf8)
        guard bytes.count <= 255, name.hasSuffix(".service"),
            bytes.allSatisfy({ $0.isASCIIAlphanumeric || ":_.-".utf8.contains($0) })
        else { violated("unit name \(name.debugDescription)", input) }
    }
}
