import Foundation
import Testing

@testable import GearAPI

/// The query of the interactive exec: what a client writes is what geard reads, and what is not a request is
/// refused with the parameter it concerns.
@Suite struct InteractiveExecRequestTests {
    static func decode(_ query: String) throws(InteractiveExecRequest.QueryError) -> InteractiveExecRequest {
        let items = URLComponents(string: "http://x/?" + query)?.queryItems ?? []
        return try InteractiveExecRequest(queryItems: items.map { ($0.name, $0.value ?? "") })
    }

    @Test func aRequestSurvivesItsQuery() throws {
        var exec = ExecRequest(
            cmd: ["sh", "-c", "echo a+b & c=d; 100% ✓"], env: ["TERM": "xterm-256color", "Q": "x=y&z"], workingDir: "/srv/my dir", user: "65534",
            timeout: 90)
        exec.tty = true
        let request = InteractiveExecRequest(exec: exec, stdin: true, size: TerminalSize(width: 132, height: 43))
        #expect(try Self.decode(request.query) == request)
        let plain = InteractiveExecRequest(exec: ExecRequest(cmd: ["cat"]), stdin: false)
        #expect(plain.query == "cmd=cat")
        #expect(try Self.decode(plain.query) == plain)
    }

    @Test func namesAreReadWhateverTheirCase() throws {
        let request = try Self.decode("CMD=ls&Cmd=-l&TTY=1&Stdin=true&Cols=80&ROWS=24&WorkingDir=/x")
        #expect(request.exec.cmd == ["ls", "-l"] && request.exec.tty == true && request.stdin)
        #expect(request.size == TerminalSize(width: 80, height: 24) && request.exec.workingDir == "/x")
    }

    @Test(arguments: [
        ("cmd=ls&bogus=1", "bogus"), ("cmd=ls&tty=maybe", "tty"), ("cmd=ls&cols=80", "cols and rows"), ("cmd=ls&cols=0&rows=5", "1 to 10000"),
        ("cmd=ls&cols=x&rows=5", "cols"), ("cmd=ls&env=NOEQUALS", "NAME=VALUE"), ("cmd=ls&env==x", "NAME=VALUE"), ("cmd=ls&env=A=1&env=A=2", "twice"),
        ("cmd=ls&user=a&user=b", "twice"), ("cmd=ls&timeout=soon", "timeout"), ("cmd=ls&timeout=nan", "timeout"),
    ])
    func refusals(_ query: String, _ message: String) {
        #expect {
            try Self.decode(query)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func terminalSizesAreJSONWithGeardsNames() throws {
        let size = TerminalSize(width: 120, height: 40)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(size), as: UTF8.self) == #"{"Height":40,"Width":120}"#)
        #expect(try JSONDecoder().decode(TerminalSize.self, from: Data(#"{"Width":120,"Height":40}"#.utf8)) == size)
        #expect(!TerminalSize(width: 10_001, height: 5).isValid && TerminalSize(width: 1, height: 1).isValid)
    }
}
