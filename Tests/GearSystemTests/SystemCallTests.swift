import Foundation
import GearSystem
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The funnel: EINTR retried, failures typed, descriptors closed once by their owner.
@Suite struct SystemCallTests {
    @Test func interruptedCallsAreMadeAgainAndOthersReturnAsTheyFailed() {
        var calls = 0
        let result = SystemCall.retryingInterrupts { () -> Int32 in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(result == 7 && calls == 3)
        let failed = SystemCall.retryingInterrupts { () -> Int32 in
            errno = ENOENT
            return -1
        }
        #expect(failed == -1 && errno == ENOENT)
    }

    @Test func failuresAreTypedWithWhatWasDone() {
        #expect {
            try SystemCall.checked("open /nonexistent/x", { open("/nonexistent/x", O_RDONLY) })
        } throws: { error in
            guard let error = error as? SystemError else { return false }
            return error.errno == ENOENT && error.description == "open /nonexistent/x: No such file or directory"
        }
    }

    @Test func writeAllWritesEverythingAndTheOwnerClosesOnce() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = OwnedDescriptor(owning: ends[0])
        let bytes = Array(repeating: UInt8(ascii: "x"), count: 32 * 1024)
        do {
            let writer = OwnedDescriptor(owning: ends[1])
            try bytes.withUnsafeBytes { try SystemCall.writeAll(writer.raw, $0, "write pipe") }
        }
        // The writer's owner closed it: the reader sees every byte, then the end (which only comes once every
        // write end is closed).
        var got = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in SystemCall.retryingInterrupts { read(reader.raw, raw.baseAddress!, raw.count) } }
            #expect(n >= 0)
            if n <= 0 { break }
            got += n
        }
        #expect(got == bytes.count)
        let kept = OwnedDescriptor(owning: dup(0)).take()
        #expect(fcntl(kept, F_GETFD) >= 0)
        close(kept)
    }

    @Test func anOwnerClosesAtOnceWhenAsked() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = OwnedDescriptor(owning: ends[0])
        let writer = OwnedDescriptor(owning: ends[1])
        try writer.close("close pipe")
        // Closed there and then: the reader sees the end at once.
        var byte: UInt8 = 0
        #expect(SystemCall.retryingInterrupts { read(reader.raw, &byte, 1) } == 0)
    }
}
