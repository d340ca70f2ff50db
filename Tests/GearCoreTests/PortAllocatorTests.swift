import GearAPI
import Testing

@testable import GearCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct PortAllocatorTests {
    let web = try! ContainerID("web")
    let db = try! ContainerID("db")

    func allocator(busy: Set<Int> = []) -> PortAllocator {
        PortAllocator(range: 4000...4004, hostPortIsFree: { !busy.contains($0) })
    }

    @Test func allocatesFromTheRangeSkippingWhatIsTaken() throws {
        let ports = try allocator(busy: [4001]).resolve(
            [PortSpec(internalPort: 80, externalPort: nil), PortSpec(internalPort: 81, externalPort: nil)], for: web,
            owners: [4000: db], previous: [])
        #expect(ports == [PortMapping(internal: 80, external: 4002), PortMapping(internal: 81, external: 4003)])
    }

    @Test func keepsAnInternalPortsExternalPortAcrossReinstalls() throws {
        let ports = try allocator(busy: [4003]).resolve(
            [PortSpec(internalPort: 80, externalPort: nil)], for: web, owners: [:], previous: [PortMapping(internal: 80, external: 4003)])
        #expect(ports == [PortMapping(internal: 80, external: 4003)])
    }

    @Test func anExplicitPortHeldByAnotherContainerConflicts() {
        #expect {
            try allocator().resolve([PortSpec(internalPort: 80, externalPort: 4000)], for: web, owners: [4000: db], previous: [])
        } throws: { ($0 as? GearError)?.code == .portConflict && "\($0)".contains("db") }
    }

    @Test func anExplicitPortAHostProcessHoldsIsInUse() {
        #expect {
            try allocator(busy: [8080]).resolve([PortSpec(internalPort: 80, externalPort: 8080)], for: web, owners: [:], previous: [])
        } throws: { ($0 as? GearError)?.code == .portInUse && "\($0)".contains("in use on this host") }
    }

    /// The holder of a listening socket is found from the kernel's tables: this test's own listener.
    @Test func theHolderOfAListeningPortIsNamed() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound && listen(fd, 1) == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(HostListeners.read(port...port) == [port])
        let holder = try #require(HostListeners.holder(of: port))
        #expect(holder.contains("(pid \(getpid())"), "\(holder)")
    }

    @Test func listeningSocketsAreReadFromTheKernelsTable() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0FA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
               1: 0100007F:0FA1 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1
            """
        let entries = HostListeners.parse(table)
        #expect(entries.map(\.port) == [4000] && entries.map(\.inode) == ["12345"])
    }

    @Test func anExhaustedRangeIsAnError() {
        #expect {
            try allocator(busy: [4000, 4001, 4002, 4003, 4004]).resolve(
                [PortSpec(internalPort: 80, externalPort: nil)], for: web, owners: [:], previous: [])
        } throws: { ($0 as? GearError)?.code == .portsExhausted }
    }

    @Test func explicitPortsAreNotAllocatedTwice() throws {
        let ports = try allocator().resolve(
            [PortSpec(internalPort: 80, externalPort: nil), PortSpec(internalPort: 81, externalPort: 4000)], for: web, owners: [:], previous: [])
        #expect(ports == [PortMapping(internal: 80, external: 4001), PortMapping(internal: 81, external: 4000)])
    }
}

@Suite struct ReloadCoalescerTests {
    actor Counter {
        var calls = 0
        var log: [String] = []
        func begin() -> Int {
            calls += 1
            log.append("begin \(calls)")
            return calls
        }
        func end(_ n: Int) { log.append("end \(n)") }
        func note(_ s: String) { log.append(s) }
    }

    @Test func aBurstOfRequestsCostsAFewReloadsAndEachWaitsForOneThatStartedAfterIt() async throws {
        let counter = Counter()
        let coalescer = ReloadCoalescer {
            let n = await counter.begin()
            try await Task.sleep(for: .milliseconds(20))
            await counter.end(n)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    await counter.note("ask \(i)")
                    try await coalescer.reloadNow()
                    await counter.note("done \(i)")
                }
            }
            try await group.waitForAll()
        }
        let calls = await counter.calls
        #expect(calls >= 1 && calls <= 3)
        #expect(await coalescer.reloads == calls)
        // For each caller: some reload began after it asked and ended before it was told done.
        let log = await counter.log
        for i in 0..<100 {
            let asked = log.firstIndex(of: "ask \(i)")!
            let done = log.firstIndex(of: "done \(i)")!
            let covering = (1...calls).contains { n in
                let begin = log.firstIndex(of: "begin \(n)")!
                let end = log.firstIndex(of: "end \(n)")!
                return begin > asked && end < done
            }
            #expect(covering, "caller \(i)")
        }
    }

    @Test func withoutCoalescingEveryRequestReloads() async throws {
        let counter = Counter()
        let coalescer = ReloadCoalescer(coalesce: false) { _ = await counter.begin() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { try await coalescer.reloadNow() } }
            try await group.waitForAll()
        }
        #expect(await counter.calls == 20)
    }
}
