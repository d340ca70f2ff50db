import Foundation
import Testing

@testable import GearCore

/// What the node reads of the kernel.
@Suite struct HostFactsTests {
    @Test func memoryIsReadFromMeminfoAsItsTextSays() throws {
        let sample = Array("MemTotal:       24568456 kB\nMemFree:        20000000 kB\nMemAvailable:   21474836 kB\nBuffers: 1 kB\n".utf8)
        sample.withUnsafeBufferPointer { text in
            #expect(HostFacts.kibibytes(of: "MemTotal:", in: text) == 24_568_456)
            #expect(HostFacts.kibibytes(of: "MemAvailable:", in: text) == 21_474_836)
            #expect(HostFacts.kibibytes(of: "Buffers:", in: text) == 1)
            #expect(HostFacts.kibibytes(of: "SwapTotal:", in: text) == 0)
        }
        // The real file, against a plain parse of it.
        let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total = text.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }.flatMap { Int64($0.split(separator: " ")[1]) }
        #expect(HostFacts.memory.total == (total ?? -1) * 1024)
        #expect(HostFacts.memory.available > 0)
    }
}
