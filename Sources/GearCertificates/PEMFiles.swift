import Foundation
import GearSystem
import SwiftASN1
public import X509

#if canImport(Glibc)
    import Glibc
#endif

/// Reading and writing PEM files. Keys are written with mode 0600, and every file atomically (a temporary file in
/// the same directory, fsynced, renamed over the target), so a crash never leaves half a key.
public enum PEMFiles {
    public static func readCertificate(_ path: String) throws -> Certificate {
        guard let certificate = try readCertificates(path).first else { throw PKIError("\(path) holds no certificate") }
        return certificate
    }

    /// Every certificate in a PEM bundle, in order.
    public static func readCertificates(_ path: String) throws -> [Certificate] {
        let text = try readText(path)
        do {
            return try PEMDocument.parseMultiple(pemString: text).filter { $0.discriminator == "CERTIFICATE" }.map {
                try Certificate(pemDocument: $0)
            }
        } catch {
            throw PKIError("\(path) is not a PEM certificate file: \(error)")
        }
    }

    /// A certificate's DER bytes (what TLS libraries take).
    public static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    public static func readPrivateKey(_ path: String) throws -> Certificate.PrivateKey {
        let text = try readText(path)
        do {
            return try Certificate.PrivateKey(pemEncoded: text)
        } catch {
            throw PKIError("\(path) is not a PEM private key: \(error)")
        }
    }

    /// Writes `NAME.crt` and `NAME.key` into `directory` (created 0700 if missing). Refuses to overwrite unless
    /// `overwrite`.
    public static func write(
        _ issued: IssuedCertificate, name: String, directory: String, overwrite: Bool = false
    ) throws -> (
        certificate: String, key: String
    ) {
        try write(certificate: issued.certificate, key: issued.privateKey, name: name, directory: directory, overwrite: overwrite)
    }

    public static func write(
        certificate: Certificate, key: Certificate.PrivateKey, name: String, directory: String, overwrite: Bool = false
    )
        throws -> (certificate: String, key: String)
    {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let certificatePath = "\(directory)/\(name).crt"
        let keyPath = "\(directory)/\(name).key"
        if !overwrite {
            for path in [certificatePath, keyPath] where FileManager.default.fileExists(atPath: path) {
                throw PKIError("\(path) exists; remove it or pass --force")
            }
        }
        try atomicWrite(try key.serializeAsPEM().pemString + "\n", to: keyPath, mode: 0o600)
        try atomicWrite(try certificate.serializeAsPEM().pemString + "\n", to: certificatePath, mode: 0o644)
        return (certificatePath, keyPath)
    }

    static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw PKIError("cannot read \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw PKIError("\(path) is not text") }
        return text
    }

    static func atomicWrite(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = "\(path).tmp-\(getpid())"
        do {
            let file = try OwnedDescriptor(opening: temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
            do {
                try Array(text.utf8).withUnsafeBytes { try SystemCall.writeAll(file.raw, $0, "write \(temporary)") }
                _ = try SystemCall.checked("chmod \(temporary)", { fchmod(file.raw, mode) })
                _ = try SystemCall.checked("fsync \(temporary)", { fsync(file.raw) })
            } catch {
                unlink(temporary)
                throw error
            }
        } catch {
            throw PKIError("cannot write \(path): \(error)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PKIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
