import Foundation
import GearAPI
import Testing

@Suite struct RFC3339Tests {
    /// The hand-written formatter agrees with Foundation's over four centuries, leap days and pre-1970 times.
    @Test func agreesWithFoundation() {
        // Foundation formats whole seconds (its fractions truncate binary floating point: .123 can come out .122).
        let style = Date.ISO8601FormatStyle()
        var generator = SystemRandomNumberGenerator()
        var samples: [Int64] = [0, -1, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, -2_208_988_800_000, 1_795_000_000_123]
        for _ in 0..<5000 { samples.append(Int64.random(in: -6_000_000_000_000...10_000_000_000_000, using: &generator)) }
        for milliseconds in samples {
            let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
            let fraction = String(milliseconds - seconds * 1000)
            let expected =
                Date(timeIntervalSince1970: Double(seconds)).formatted(style).dropLast() + "."
                + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
            let ours = String(decoding: RFC3339.bytes(microseconds: milliseconds * 1000, fractionDigits: 3), as: UTF8.self)
            #expect(ours == expected, "\(milliseconds)")
        }
    }

    @Test func writesMicroseconds() {
        let text = String(decoding: RFC3339.bytes(microseconds: 1_795_000_000_123_456, fractionDigits: 6), as: UTF8.self)
        #expect(text == "2026-11-18T11:06:40.123456Z")
    }
}
