import Foundation
import GearAPI
import GearCore
import Synchronization
import Testing

@Suite struct LeaseTableTests {
    final class Clock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    @Test func oneHolderAtATimeUntilItExpiresOrIsReleased() throws {
        let clock = Clock()
        let table = LeaseTable(now: { clock.now.withLock { $0 } })
        let first = try table.acquire("deploy.app", holder: "a", seconds: 60)
        #expect(first.holder == "a" && first.expiresAt == clock.now.withLock { $0 }.addingTimeInterval(60))
        #expect {
            try table.acquire("deploy.app", holder: "b", seconds: 60)
        } throws: { ($0 as? GearError)?.code == .conflict && "\($0)".contains("held by a") }
        clock.advance(30)
        #expect(try table.acquire("deploy.app", holder: "a", seconds: 60).expiresAt > first.expiresAt, "the holder renews")
        #expect(throws: GearError.self) { try table.release("deploy.app", holder: "b") }
        try table.release("deploy.app", holder: "a")
        try table.release("deploy.app", holder: "a")  // a retry is fine
        #expect(try table.acquire("deploy.app", holder: "b", seconds: 10).holder == "b")
        clock.advance(11)
        #expect(throws: GearError.self) { try table.current("deploy.app") }
        #expect(try table.acquire("deploy.app", holder: "c", seconds: 10).holder == "c", "an expired lease is free")
    }

    @Test(arguments: [
        ("", "a", 10, GearError.Code.invalidID), ("../x", "a", 10, .invalidID), (".x", "a", 10, .invalidID),
        (String(repeating: "n", count: 129), "a", 10, .invalidID), ("ok", "", 10, .invalidRequest), ("ok", "a\nb", 10, .invalidRequest),
        ("ok", String(repeating: "h", count: 257), 10, .invalidRequest), ("ok", "a", 0, .invalidRequest), ("ok", "a", 3601, .invalidRequest),
    ])
    func badNamesHoldersAndDurationsAreRefused(_ name: String, _ holder: String, _ seconds: Int, _ code: GearError.Code) {
        let table = LeaseTable()
        #expect { try table.acquire(name, holder: holder, seconds: seconds) } throws: { ($0 as? GearError)?.code == code }
    }

    @Test func theTableIsBounded() throws {
        let clock = Clock()
        let table = LeaseTable(now: { clock.now.withLock { $0 } })
        for i in 0..<LeaseTable.maxLeases { _ = try table.acquire("l\(i)", holder: "a", seconds: 10) }
        #expect { try table.acquire("one-more", holder: "a", seconds: 10) } throws: { "\($0)".contains("more than 1024") }
        clock.advance(11)
        #expect(try table.acquire("one-more", holder: "a", seconds: 10).name == "one-more", "expired leases make room")
    }
}
