import Crypto
import Foundation

/// The one digest of what a container runs, for every side that decides whether an instance must be replaced: the
/// push deploy and the etcd deploy (`DeploymentLabel.spec`) and a node following etcd (`EtcdLabel.spec`). The first
/// 16 hexadecimal digits (64 bits) of the SHA-256 of the install body's canonical JSON (`GearJSON`: sorted keys), so
/// the order and case of the fields a client sent do not matter.
public enum SpecDigest {
    /// How many hexadecimal digits a digest has.
    public static let length = 16

    /// The digest of `request` as it is (the caller leaves out what must not count, such as `Started`).
    public static func of(_ request: InstallRequest) -> String {
        let data = (try? GearJSON.encoder().encode(request)) ?? Data()
        var hex = ""
        hex.reserveCapacity(length)
        for byte in SHA256.hash(data: data).prefix(length / 2) {
            hex.append(Self.digits[Int(byte >> 4)])
            hex.append(Self.digits[Int(byte & 0xF)])
        }
        return hex
    }

    /// Whether a digest a label holds is `digest`. Labels written before there was one digest held 24 digits of the
    /// same hash (`gear.etcd.spec`): they match on their first 16, so that an upgraded node replaces nothing.
    public static func matches(_ label: String?, _ digest: String) -> Bool {
        guard let label, label.utf8.count >= length else { return false }
        return label.utf8.count == digest.utf8.count ? label == digest : label.utf8.prefix(length).elementsEqual(digest.utf8.prefix(length))
    }

    private static let digits = Array("0123456789abcdef")
}
