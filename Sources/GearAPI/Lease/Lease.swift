public import Foundation

/// A named lease on a node (`PUT /lease/{name}`): held by one holder until it expires or is released. gear deploy
/// takes `deploy.{deployment}` on every host, so that two deploys of one deployment are not interleaved.
public struct Lease: Sendable, Hashable, Codable {
    public var name: String
    public var holder: String
    public var expiresAt: Date

    public init(name: String, holder: String, expiresAt: Date) {
        self.name = name
        self.holder = holder
        self.expiresAt = expiresAt
    }
}

/// The body of `PUT /lease/{name}`: who takes (or renews) it, and for how many seconds.
public struct LeaseRequest: Sendable, Hashable, Codable {
    public var holder: String
    public var seconds: Int

    public init(holder: String, seconds: Int) {
        self.holder = holder
        self.seconds = seconds
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["holder", "seconds"])
        guard let holder = try object.decode(String.self, "holder"), let seconds = try object.decode(Int.self, "seconds") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("Holder"), .init(codingPath: decoder.codingPath, debugDescription: "a lease needs 'Holder' and 'Seconds'"))
        }
        self.holder = holder
        self.seconds = seconds
    }

    private enum CodingKeys: String, CodingKey { case holder = "Holder", seconds = "Seconds" }
}
