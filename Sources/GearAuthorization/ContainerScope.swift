/// The containers a caller may act on: all, or those whose id matches one of a list of glob patterns
/// (`tenant-a-*`, `web-?`).
public indirect enum ContainerScope: Sendable, Equatable, CustomStringConvertible {
    case all
    case patterns([String])
    /// The containers in both (a delegation token's patterns within its issuer's).
    case both(ContainerScope, ContainerScope)
    /// The containers in either.
    case either(ContainerScope, ContainerScope)

    public static let none = ContainerScope.patterns([])

    public func contains(_ id: String) -> Bool {
        switch self {
        case .all: true
        case .patterns(let patterns): patterns.contains { Self.glob($0, matches: id) }
        case .both(let a, let b): a.contains(id) && b.contains(id)
        case .either(let a, let b): a.contains(id) || b.contains(id)
        }
    }

    /// True when no container can be in the scope for certain (an intersection of patterns may be empty too:
    /// this answers for what is known without enumerating ids).
    public var isEmpty: Bool {
        switch self {
        case .all: false
        case .patterns(let patterns): patterns.isEmpty
        case .both(let a, let b): a.isEmpty || b.isEmpty
        case .either(let a, let b): a.isEmpty && b.isEmpty
        }
    }

    /// The union of two scopes.
    public func union(_ other: ContainerScope) -> ContainerScope {
        switch (self, other) {
        case (.all, _), (_, .all): .all
        case (.patterns(let a), .patterns(let b)): .patterns(a + b.filter { !a.contains($0) })
        case (let a, let b) where a.isEmpty: b
        case (let a, let b) where b.isEmpty: a
        default: .either(self, other)
        }
    }

    /// The intersection of two scopes.
    public func intersection(_ other: ContainerScope) -> ContainerScope {
        switch (self, other) {
        case (.all, let b): b
        case (let a, .all): a
        case (let a, let b) where a.isEmpty || b.isEmpty: .none
        default: .both(self, other)
        }
    }

    public var description: String {
        switch self {
        case .all: "*"
        case .patterns(let patterns): patterns.joined(separator: ",")
        case .both(let a, let b): "(\(a))&(\(b))"
        case .either(let a, let b): "(\(a))|(\(b))"
        }
    }

    /// A container id pattern: letters, digits, `-`, `_`, and the wildcards `*` (any run) and `?` (one character).
    public static func isValidPattern(_ pattern: String) -> Bool {
        !pattern.isEmpty && pattern.count <= 128
            && pattern.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_*?".unicodeScalars.contains($0))
            }
    }

    /// Glob matching with `*` and `?` over bytes (ids are ASCII), iterative with one backtrack point.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
