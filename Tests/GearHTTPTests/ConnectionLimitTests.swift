import Testing

@testable import GearHTTP

@Suite struct ConnectionLimitTests {
    @Test func connectionsAreCountedInAllAndPerClientAndPlacesComeBack() {
        let counter = ConnectionCounter(limits: ConnectionLimits(maxConnections: 5, maxPerClient: 2))
        #expect(counter.admit("10.0.0.1") && counter.admit("10.0.0.1"))
        #expect(!counter.admit("10.0.0.1"), "a third from one address")
        #expect(counter.admit("10.0.0.2") && counter.admit(nil) && counter.admit(nil))
        #expect(counter.open == 5)
        #expect(!counter.admit("10.0.0.3"), "the listener is full")
        counter.leave("10.0.0.1")
        #expect(counter.admit("10.0.0.1"), "a place came back")
        counter.leave(nil)
        #expect(counter.admit("10.0.0.3"))
        #expect(!counter.admit("10.0.0.4"))
    }
}
