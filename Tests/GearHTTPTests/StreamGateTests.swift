import GearAuthorization
import GearCertificates
import Testing

@testable import GearHTTP

@Suite struct StreamGateTests {
    @Test func eachCallerHoldsItsCapAndTicketsGiveTheirPlacesBack() throws {
        let gate = StreamGate(limits: StreamLimits(perIdentity: 2, perLocalListener: 3))
        let a = Caller.certificate(PeerIdentity(commonName: "a", organizationalUnits: [], serial: "01", fingerprint: "aa"))
        let b = Caller.certificate(PeerIdentity(commonName: "b", organizationalUnits: [], serial: "02", fingerprint: "bb"))
        var held = [try gate.enter(a), try gate.enter(a)]
        #expect(throws: StreamLimitError.self) { try gate.enter(a) }
        var other: StreamTicket? = try gate.enter(b)
        held.removeLast()
        held.append(try gate.enter(a))
        var local = [try gate.enter(.local(listener: "tcp")), try gate.enter(.local(listener: "tcp")), try gate.enter(.local(listener: "tcp"))]
        #expect(throws: StreamLimitError.self) { try gate.enter(.local(listener: "tcp")) }
        _ = try gate.enter(.local(listener: "unix"))  // given back at once
        #expect(throws: StreamLimitError.self) { try gate.enter(.unauthenticated) }
        #expect(gate.held == ["cert:aa": 2, "cert:bb": 1, "local:tcp": 3])
        #expect(other != nil && local.count == 3)
        held.removeAll()
        other = nil
        local.removeAll()
        #expect(gate.held.isEmpty, "\(gate.held)")
    }
}
