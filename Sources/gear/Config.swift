import ArgumentParser
import Foundation
import GearClient
import Synchronization

/// gear's configuration file: defaults for the options, host aliases and host groups.
///
///     {
///       "host": "node1",
///       "ca": "pki/ca.crt", "cert": "pki/ops.crt", "key": "pki/ops.key",
///       "hosts": {"node1": "10.0.0.1", "node2": "10.0.0.2:43274"},
///       "groups": {"web": ["node1", "node2"]}
///     }
///
/// Read from `--config FILE`, `GEAR_CONFIG`, or `$XDG_CONFIG_HOME/gear/config.json` (`~/.config/gear/config.json`)
/// when it exists. Flags and environment variables win over it. A locator `@web/api` means `api` on every host of
/// the group; a host name found in `hosts` means its address. Relative file paths are relative to the file.
struct GearConfig: Sendable, Equatable {
    var host: String?
    var ca: String?
    var cert: String?
    var key: String?
    var token: String?
    var hosts: [String: String] = [:]
    var groups: [String: [String]] = [:]
    /// Where it was read from; nil when there is no file.
    var path: String?

    static let keys: Set<String> = ["host", "ca", "cert", "key", "token", "hosts", "groups"]

    /// Parses a configuration file's bytes; every error names the file and the key.
    init(data: Data, path: String) throws(ValidationError) {
        self.path = path
        guard let object = try? JSONSerialization.jsonObject(with: data), let top = object as? [String: Any] else {
            throw ValidationError("\(path): not a JSON object")
        }
        if let unknown = top.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw ValidationError("\(path): unknown key '\(unknown)' (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        func string(_ key: String) throws(ValidationError) -> String? {
            guard let value = top[key] else { return nil }
            guard let text = value as? String, !text.isEmpty else { throw ValidationError("\(path): '\(key)' must be a non-empty string") }
            return text
        }
        func file(_ key: String) throws(ValidationError) -> String? {
            guard let text = try string(key) else { return nil }
            if text.hasPrefix("~/") { return NSHomeDirectory() + text.dropFirst() }
            return text.hasPrefix("/") || directory.isEmpty ? text : directory + "/" + text
        }
        host = try string("host")
        ca = try file("ca")
        cert = try file("cert")
        key = try file("key")
        token = try string("token")
        if let value = top["hosts"] {
            guard let aliases = value as? [String: String] else { throw ValidationError("\(path): 'hosts' must map names to HOST[:PORT] strings") }
            for (name, address) in aliases {
                guard (try? Locator(parsing: address + "/x"))?.host != nil else {
                    throw ValidationError("\(path): hosts.\(name): '\(address)' is not HOST[:PORT]")
                }
            }
            hosts = aliases
        }
        if let value = top["groups"] {
            guard let groups = value as? [String: [String]] else { throw ValidationError("\(path): 'groups' must map names to lists of hosts") }
            for (name, members) in groups {
                guard !members.isEmpty else { throw ValidationError("\(path): group '\(name)' is empty") }
                for member in members where (try? Locator(parsing: member + "/x"))?.host == nil {
                    throw ValidationError("\(path): group '\(name)': '\(member)' is not a host")
                }
            }
            self.groups = groups
        }
    }

    init() {}

    private static let cache = Mutex<[String: GearConfig]>([:])

    /// The configuration to use: `explicit` (the flag, then `GEAR_CONFIG`) must exist; the default file may not.
    static func load(explicit: String?) throws(ValidationError) -> GearConfig {
        let environment = ProcessInfo.processInfo.environment
        let chosen = explicit ?? environment["GEAR_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path: String
        if let chosen {
            path = chosen
        } else {
            let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.config"
            path = base + "/gear/config.json"
            guard FileManager.default.fileExists(atPath: path) else { return GearConfig() }
        }
        if let cached = cache.withLock({ $0[path] }) { return cached }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read the configuration file \(path)") }
        let config = try GearConfig(data: data, path: path)
        cache.withLock { $0[path] = config }
        return config
    }

    /// `@group/id` as one locator text per host of the group; other texts as they are. `suffix` is what follows the
    /// group (`/id`, or nothing for commands that take hosts).
    func expand(_ text: String) throws(ValidationError) -> [String] {
        guard text.hasPrefix("@") else { return [text] }
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        let name = String(text[text.index(after: text.startIndex)..<slash])
        guard let members = groups[name] else {
            let known = groups.keys.sorted().map { "@" + $0 }.joined(separator: ", ")
            throw ValidationError(
                "no host group '@\(name)'" + (path.map { " in \($0)" } ?? " (no configuration file)") + (known.isEmpty ? "" : "; groups: \(known)"))
        }
        return members.map { $0 + text[slash...] }
    }

    /// The address of a host alias, or the host itself.
    func address(of host: String, port: Int?) -> (host: String, port: Int?) {
        guard port == nil, let address = hosts[host], let locator = try? Locator(parsing: address + "/x"), let resolved = locator.host else {
            return (host, port)
        }
        return (resolved, locator.port)
    }
}
