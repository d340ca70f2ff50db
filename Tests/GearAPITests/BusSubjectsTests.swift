import GearAPI
import Testing

/// gear's subjects on the bus: a node's permissions cover its own requests and replies and nothing of another node's.
struct BusSubjectsTests {
    @Test func subjectsAndPermissionsKeepANodeToItself() {
        #expect(BusSubjects.request(node: "node1", operation: "status") == "gear.v1.req.node1.status")
        #expect(BusSubjects.broadcast(operation: "list") == "gear.v1.bcast.list")
        #expect(BusSubjects.reply(caller: "orch", node: "node1", requestID: "r1") == "gear.v1.rep.orch.node1.r1")
        #expect(BusSubjects.nodeSubscriptions("node1") == ["gear.v1.req.node1.>", "gear.v1.bcast.>"])
        #expect(BusSubjects.nodePublications("node1") == ["gear.v1.rep.*.node1.>"])
        #expect(BusSubjects.callerSubscriptions("orch") == ["gear.v1.rep.orch.>"])
    }

    @Test(arguments: ["", "a.b", "a b", "*", ">", "a*", String(repeating: "n", count: 65), "né"])
    func namesThatWouldBreakASubjectTokenAreRefused(_ name: String) {
        #expect(BusSubjects.problem(withName: name) != nil)
    }

    @Test func nodeNamesOfLettersDigitsDashesAndUnderscoresAreTokens() {
        for name in ["node1", "n", "web-01_a", String(repeating: "n", count: 64)] { #expect(BusSubjects.problem(withName: name) == nil) }
    }
}
