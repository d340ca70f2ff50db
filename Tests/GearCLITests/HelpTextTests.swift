import ArgumentParser
import Testing

@testable import gear
@testable import gear_orchestrator
@testable import geard

/// Help texts read as prose in an 80-column terminal: a paragraph line never holds a run of spaces (a line break
/// that a source edit turned into spaces, `otherwise it             becomes the target`), and no line is wider.
@Suite struct HelpTextTests {
    /// Every command of `root`, subcommands included.
    static func commands(_ root: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
        [root] + root.configuration.subcommands.flatMap { commands($0) }
    }

    static func problems(_ help: String) -> [String] {
        help.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            // The usage line is ArgumentParser's own, unwrapped by design.
            if line.count > 80, !line.hasPrefix("USAGE:") { return "wider than 80 columns: \(line)" }
            // Paragraphs start at the margin; option tables and examples are indented and may align in columns.
            if let first = line.first, first != " ", line.contains("   ") { return "a run of spaces: \(line)" }
            return nil
        }
    }

    @Test func gearsHelpReadsAsProse() {
        for command in Self.commands(Gear.self) {
            let help = Gear.helpMessage(for: command, columns: 80)
            #expect(Self.problems(help).isEmpty, "gear \(command.configuration.commandName ?? "?"): \(Self.problems(help).joined(separator: "\n"))")
        }
    }

    @Test func theOrchestratorsHelpReadsAsProse() {
        let help = GearOrchestratorCommand.helpMessage(columns: 80)
        #expect(Self.problems(help).isEmpty, "\(Self.problems(help).joined(separator: "\n"))")
    }

    @Test func geardsHelpReadsAsProse() {
        let help = Geard.helpMessage(columns: 80)
        #expect(Self.problems(help).isEmpty, "\(Self.problems(help).joined(separator: "\n"))")
    }
}
