import Foundation
import GearAPI

/// Plain-text forms of answers, for `Accept: text/plain` (people with curl).
enum TextRendering {
    static func status(_ s: ContainerStatus) -> String {
        var lines = [
            "id: \(s.id)",
            "unit: \(s.unit)",
            "runtime: \(s.runtime)",
        ]
        if let image = s.image { lines.append("image: \(image)") }
        if !s.cmd.isEmpty { lines.append("cmd: \(s.cmd.joined(separator: " "))") }
        lines += [
            "started: \(s.started)",
            "state: \(s.activeState) (\(s.subState)), \(s.loadState)",
        ]
        if let pid = s.mainPID { lines.append("main pid: \(pid)") }
        if let since = s.activeSince { lines.append("active since: \(since.formatted(.iso8601))") }
        if let since = s.inactiveSince { lines.append("inactive since: \(since.formatted(.iso8601))") }
        if let result = s.result { lines.append("last result: \(result)\(s.exitStatus.map { ", exit status \($0)" } ?? "")") }
        lines.append("restarts: \(s.restarts)")
        if !s.ports.isEmpty { lines.append("ports: \(s.ports.map(\.headerForm).joined(separator: " "))") }
        for volume in s.volumes { lines.append("volume: \(volume.name) at \(volume.path)\(volume.readOnly ? " (read-only)" : "")") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func list(_ list: ContainerList) -> String {
        var rows = [["ID", "RUNTIME", "STARTED", "STATE", "SUB", "PORTS"]]
        for s in list.containers {
            rows.append([s.id, s.runtime, s.started ? "yes" : "no", s.activeState, s.subState, s.ports.map(\.headerForm).joined(separator: ",")])
        }
        var text = table(rows)
        if let orphans = list.orphanUnits, !orphans.isEmpty {
            text += "units without a definition: \(orphans.joined(separator: " "))\n"
        }
        return text
    }

    static func ports(_ ports: [PortMapping]) -> String {
        ports.map { "\($0.headerForm)\n" }.joined()
    }

    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.first?.count else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == columns - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
