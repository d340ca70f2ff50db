import Testing

@testable import GearOrchestrator

/// How the leader judges nodes over time: silent, dead past the grace period, and flapping when they come back.
@Suite struct NodeHealthTests {
    @Test func aNodeIsSilentThenDeadAndOnceBackTakesNothingNewForADoublingWhile() {
        var health = NodeHealth(grace: .seconds(20))
        let t0 = ContinuousClock.now
        #expect(health.update(["a": true, "b": true], at: t0) == ["a": .ready, "b": .ready])
        health.silent("b", at: t0)
        #expect(health.update(["a": true, "b": false], at: t0 + .seconds(5))["b"] == .silent(seconds: 5))
        // Back within its grace: not a flap.
        health.reported("b", at: t0 + .seconds(6))
        #expect(health.update(["a": true, "b": true], at: t0 + .seconds(6))["b"] == .ready)
        #expect(health.quarantined(at: t0 + .seconds(7)).isEmpty)

        // Gone past its grace: dead; back: it takes nothing new for 30 s.
        health.silent("b", at: t0 + .seconds(10))
        #expect(health.update(["a": true, "b": false], at: t0 + .seconds(31))["b"] == .dead(seconds: 21))
        health.reported("b", at: t0 + .seconds(40))
        #expect(health.update(["a": true, "b": true], at: t0 + .seconds(40))["b"] == .ready)
        let first = health.quarantined(at: t0 + .seconds(41))
        #expect(first["b"]?.hasPrefix("flapping: back from the dead once lately, takes nothing new for 29 s more") == true, "\(first)")
        #expect(health.quarantined(at: t0 + .seconds(71)).isEmpty)

        // Again: 60 s.
        health.silent("b", at: t0 + .seconds(80))
        _ = health.update(["b": false], at: t0 + .seconds(101))
        health.reported("b", at: t0 + .seconds(110))
        #expect(health.quarantined(at: t0 + .seconds(169))["b"]?.contains("2 times") == true)
        #expect(health.quarantined(at: t0 + .seconds(171)).isEmpty)
        // Up for half an hour: forgiven, the next flap is the first again.
        _ = health.update(["b": true], at: t0 + .seconds(110 + 1800))
        health.silent("b", at: t0 + .seconds(2000))
        _ = health.update(["b": false], at: t0 + .seconds(2021))
        health.reported("b", at: t0 + .seconds(2030))
        #expect(health.quarantined(at: t0 + .seconds(2031))["b"]?.contains("once") == true)
    }

    @Test func theBackOffDoublesToItsCeiling() {
        let health = NodeHealth(grace: .seconds(20))
        #expect(
            [1, 2, 3, 5, 6, 50].map { health.backOff($0) } == [
                .seconds(30), .seconds(60), .seconds(120), .seconds(480), .seconds(600), .seconds(600),
            ])
    }
}
