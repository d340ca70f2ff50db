public import Foundation

/// The JSON encoder and decoder settings of the API: RFC 3339 dates in UTC with milliseconds, sorted keys.
public enum GearJSON {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    /// A fresh encoder with the API's settings.
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// `date` in UTC with milliseconds, rounded to the nearest millisecond, so that a date read back from its text
    /// writes the same text again.
    public static func format(_ date: Date) -> String {
        String(decoding: RFC3339.bytes(microseconds: milliseconds(date) * 1000, fractionDigits: 3), as: UTF8.self)
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// A fresh decoder with the API's settings.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let string = try container.decode(String.self)
            if let date = try? withFraction.parse(string) { return date }
            if let date = try? withoutFraction.parse(string) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 date: \(string)")
        }
        return decoder
    }
}
