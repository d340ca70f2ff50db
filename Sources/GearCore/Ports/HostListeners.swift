import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// TCP ports that processes on the host listen on, from the kernel's socket tables (`/proc/net/tcp`, `tcp6`) of
/// geard's network namespace, and who holds one: what `/node` reports as taken outside gear, and what a refused
/// install names.
enum HostListeners {
    /// The listening ports within `range`, each once, lowest first; read at most once a second (`/node` is asked
    /// often, and the tables list every connection of the host).
    static func listening(in range: ClosedRange<Int>) -> [Int] {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), cached.range == range, now - cached.at < .seconds(1) { return cached.ports }
        let ports = read(range)
        cache.withLock { $0 = (range, now, ports) }
        return ports
    }

    /// Drops what was read: a port was just found taken, and the next `listening` must list it (a node entry written
    /// right after a refusal tells the deploy which port to avoid).
    static func forget() {
        cache.withLock { $0 = nil }
    }

    private static let cache = Mutex<(range: ClosedRange<Int>, at: ContinuousClock.Instant, ports: [Int])?>(nil)

    static func read(_ range: ClosedRange<Int>) -> [Int] {
        var ports = Set<Int>()
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            for entry in entries(file) where range.contains(entry.port) { ports.insert(entry.port) }
        }
        return ports.sorted()
    }

    /// The process listening on `port` as `name (pid N, unit)`, or nil when none is found (a listener in another
    /// namespace, or a process geard may not look into).
    static func holder(of port: Int) -> String? {
        let inodes = Set(["/proc/net/tcp", "/proc/net/tcp6"].flatMap { entries($0) }.filter { $0.port == port }.map(\.inode))
        guard !inodes.isEmpty, let processes = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for pid in processes where pid.allSatisfy(\.isNumber) {
            guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            for fd in descriptors {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                    target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast()))
                else { continue }
                let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                let unit = Self.unit(pid).map { ", \($0)" } ?? ""
                return "\(name) (pid \(pid)\(unit))"
            }
        }
        return nil
    }

    /// The systemd unit of a process, from its cgroup (`0::/system.slice/nginx.service`).
    static func unit(_ pid: String) -> String? {
        guard let cgroup = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8),
            let line = cgroup.split(separator: "\n").first(where: { $0.hasPrefix("0::") }),
            let last = line.split(separator: "/").last(where: { $0.hasSuffix(".service") || $0.hasSuffix(".scope") })
        else { return nil }
        return String(last)
    }

    /// The listening sockets of one table: its port and inode.
    static func entries(_ file: String) -> [(port: Int, inode: String)] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return parse(text)
    }

    /// The LISTEN lines (state `0A`) of a `/proc/net/tcp` table.
    static func parse(_ table: String) -> [(port: Int, inode: String)] {
        var result: [(Int, String)] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
            guard fields.count >= 10, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16)
            else { continue }
            result.append((port, String(fields[9])))
        }
        return result
    }
}
