import Foundation
import GearCertificates
import Testing

/// base64url as RFC 4648 §5 writes it, unpadded: the same bytes as Foundation's base64 with its two characters
/// swapped, and only canonical text read back.
struct Base64URLTests {
    @Test func encodingMatchesFoundationsAndReadsBack() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == expected)
            #expect(Base64URL.decode(Substring(encoded)) == Data(bytes))
        }
    }

    @Test(arguments: ["A", "AB==", "A+B_", "AB", "ABC", "é", "AAAAA", "AA AA"])
    func textThatIsNotCanonicalBase64URLIsRefused(_ text: String) {
        #expect(Base64URL.decode(Substring(text)) == nil, "\(text)")
    }
}
