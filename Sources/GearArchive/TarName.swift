/// The checks an entry name of an archive passes before anything is created for it: relative, no `..`, no
/// backslash or NUL, bounded. `./a//b/` is `["a", "b"]`; `.` (the archive's root) is `[]`.
public enum TarName {
    public static let maxComponentBytes = 255
    public static let maxPathBytes = 4096
    public static let maxDepth = 256

    public static func components(_ name: String) throws(ArchiveError) -> [String] {
        let shown = String(name.prefix(120))
        guard !name.hasPrefix("/") else {
            throw ArchiveError(.invalid, "entry '\(shown)' is an absolute path; archives are extracted beneath a directory")
        }
        guard name.utf8.count <= maxPathBytes else { throw ArchiveError(.invalid, "entry '\(shown)…' is longer than \(maxPathBytes) bytes") }
        guard !name.utf8.contains(0), !name.utf8.contains(UInt8(ascii: "\\")) else {
            throw ArchiveError(.invalid, "entry '\(shown)' contains a backslash or NUL")
        }
        var components: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            guard part != ".." else {
                throw ArchiveError(.invalid, "entry '\(shown)' has a '..' component; archives are extracted beneath a directory")
            }
            guard part.utf8.count <= maxComponentBytes else {
                throw ArchiveError(.invalid, "entry '\(shown)' has a component longer than \(maxComponentBytes) bytes")
            }
            components.append(String(part))
        }
        guard components.count <= maxDepth else { throw ArchiveError(.invalid, "entry '\(shown)' is deeper than \(maxDepth) levels") }
        return components
    }
}
