import Foundation
import GearSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Facts about the host read from the kernel and the file system (no subprocess but podman's version, asked once).
enum HostFacts {
    static func firstLine(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return String(text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
    }

    static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static var kernel: String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static var cpus: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// `MemTotal` and `MemAvailable` of /proc/meminfo, in bytes. They are its first and third lines; the bytes are
    /// scanned as they are (splitting the text into strings was a third of the cost of `GET /node`).
    static var memory: (total: Int64, available: Int64) {
        let opened = SystemCall.retryingInterrupts { open("/proc/meminfo", O_RDONLY | O_CLOEXEC) }
        guard opened >= 0 else { return (0, 0) }
        let file = OwnedDescriptor(owning: opened)
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = SystemCall.retryingInterrupts { read(file.raw, &buffer, buffer.count) }
        guard count > 0 else { return (0, 0) }
        return buffer.withUnsafeBufferPointer { bytes in
            let text = UnsafeBufferPointer(rebasing: bytes[0..<count])
            return (kibibytes(of: "MemTotal:", in: text) * 1024, kibibytes(of: "MemAvailable:", in: text) * 1024)
        }
    }

    /// The number on the line of /proc/meminfo that starts with `name` (0 when there is none).
    static func kibibytes(of name: StaticString, in text: UnsafeBufferPointer<UInt8>) -> Int64 {
        let key = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var lineStart = 0
        while lineStart + key.count <= text.count {
            if text[lineStart..<(lineStart + key.count)].elementsEqual(key) {
                var value: Int64 = 0
                var i = lineStart + key.count
                while i < text.count, text[i] == UInt8(ascii: " ") { i += 1 }
                while i < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[i]) {
                    value = value * 10 + Int64(text[i] - UInt8(ascii: "0"))
                    i += 1
                }
                return value
            }
            guard let newline = text[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            lineStart = newline + 1
        }
        return 0
    }

    /// Size and free space (for unprivileged users, as `df` shows) of the file system holding `path`.
    static func disk(_ path: String) -> (total: Int64, free: Int64)? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        let size = Int64(stats.f_frsize)
        return (Int64(stats.f_blocks) * size, Int64(stats.f_bavail) * size)
    }

    /// What does not change while geard runs: read once (the versions change only with a restart of systemd
    /// or an upgrade of podman, and geard reports what it first saw until it restarts).
    struct Constant: Sendable {
        var machineID: String
        var bootID: String
        var kernel: String
        var systemdVersion: String
        var podmanVersion: String?
    }

    private static let cached = Mutex<Constant?>(nil)

    static func constant(systemd: any SystemdControl, podmanPath: String) async throws -> Constant {
        if let known = cached.withLock({ $0 }) { return known }
        let systemdVersion = try await systemd.version()
        let constant = try await BlockingIO.run {
            Constant(
                machineID: firstLine("/etc/machine-id"), bootID: firstLine("/proc/sys/kernel/random/boot_id"), kernel: kernel,
                systemdVersion: systemdVersion, podmanVersion: podmanVersion(podmanPath))
        }
        cached.withLock { $0 = constant }
        return constant
    }

    /// `podman --version`'s number; nil when it cannot be run.
    static func podmanVersion(_ path: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}
