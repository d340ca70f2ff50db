// gear-fuzz: geard's parsers under libFuzzer. Built only by `make fuzz` (GEAR_FUZZ=1 adds this target and instruments
// the parsers' modules for coverage and address checks, in .build-fuzz); GEAR_FUZZ_TARGET picks the parser:
//
//     GEAR_FUZZ_TARGET=tar .build-fuzz/debug/gear-fuzz -max_total_time=30 corpus/ Fuzz/seeds/tar/
//
// A target crashes (and libFuzzer keeps the input) when a parser traps, or when what it accepted breaks a property
// the rest of geard relies on: a unit file with a line the renderer never writes, a byte range outside the file, an
// entry name that leaves the extraction directory, a locator that does not read back as itself.

import CFuzzer

#if canImport(Glibc)
    import Glibc
#endif

/// One parser and the properties of what it accepts.
struct FuzzTarget: Sendable {
    var name: String
    var run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "tar", run: ArchiveTargets.tarStream),
        FuzzTarget(name: "tar-roundtrip", run: ArchiveTargets.tarRoundTrip),
        FuzzTarget(name: "pax", run: ArchiveTargets.paxRecords),
        FuzzTarget(name: "install", run: InstallTargets.installBody),
        FuzzTarget(name: "environment", run: InstallTargets.environmentBody),
        FuzzTarget(name: "file-headers", run: HeaderTargets.fileHeaders),
        FuzzTarget(name: "values", run: ValueTargets.values),
        FuzzTarget(name: "policy", run: DocumentTargets.policy),
        FuzzTarget(name: "token", run: DocumentTargets.token),
        FuzzTarget(name: "deployment", run: DocumentTargets.deployment),
        FuzzTarget(name: "nats", run: NATSTargets.stream),
    ]
}

/// The target GEAR_FUZZ_TARGET names.
let selectedTarget: FuzzTarget = {
    let names = FuzzTarget.all.map(\.name)
    guard let raw = getenv("GEAR_FUZZ_TARGET"), let target = FuzzTarget.all.first(where: { $0.name == String(cString: raw) }) else {
        let message = Array("gear-fuzz: set GEAR_FUZZ_TARGET to one of: \(names.joined(separator: " "))\n".utf8)
        _ = write(2, message, message.count)
        exit(2)
    }
    return target
}()

@main
enum GearFuzz {
    static func main() {
        _ = selectedTarget
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
    }
}

/// libFuzzer's callback: one input for the selected target.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget.run(bytes)
    return 0
}

/// A property of accepted input does not hold: stop here so that libFuzzer keeps the input.
func violated(_ what: String, _ input: [UInt8]) -> Never {
    let shown = String(decoding: input.prefix(200), as: UTF8.self).debugDescription
    fatalError("property violated: \(what); input \(shown)")
}

extension Array where Element == UInt8 {
    /// The input as text, when it is UTF-8.
    var text: String? { String(validating: self, as: UTF8.self) }
}
