public import Foundation

extension AccessPolicy {
    /// Reads a policy file:
    ///
    ///     {
    ///       "roleFromOrganizationalUnit": true,
    ///       "roles": { "deployer": ["container.install", "container.start", "container.read"] },
    ///       "grants": [
    ///         { "identity": "cn:orchestrator-a", "role": "operator", "containers": ["tenant-a-*"] },
    ///         { "identity": "*", "role": "reader" }
    ///       ]
    ///     }
    ///
    /// Unknown keys, operations, roles and malformed patterns are errors: a typo must not widen or silently
    /// narrow what the file says.
    public static func load(path: String) throws(PolicyError) -> AccessPolicy {
        guard let data = FileManager.default.contents(atPath: path) else { throw PolicyError("cannot read the policy file \(path)") }
        do {
            return try AccessPolicy(json: data)
        } catch {
            throw PolicyError("\(path): \(error.message)")
        }
    }

    public init(json data: Data) throws(PolicyError) {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PolicyError("the policy must be a JSON object")
        }
        try Self.checkKeys(root, allowed: ["roleFromOrganizationalUnit", "roles", "grants"], in: "the policy")
        var roles = Self.builtinRoles
        if let value = root["roles"] {
            guard let custom = value as? [String: Any] else { throw PolicyError("roles must be an object of role name → operations") }
            for (name, list) in custom {
                guard Self.builtinRoles[name] == nil else { throw PolicyError("role \(name) is built in and cannot be redefined") }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw PolicyError("role name '\(name)' must be letters, digits, - or _")
                }
                guard let names = list as? [String] else { throw PolicyError("role \(name) must list operations as strings") }
                roles[name] = try Self.operations(names, role: name)
            }
        }
        var grants: [Grant] = []
        if let value = root["grants"] {
            guard let list = value as? [[String: Any]] else { throw PolicyError("grants must be a list of objects") }
            for (index, item) in list.enumerated() {
                let place = "grants[\(index)]"
                try Self.checkKeys(item, allowed: ["identity", "role", "containers"], in: place)
                guard let identity = item["identity"] as? String else { throw PolicyError("\(place).identity must be a string") }
                guard let role = item["role"] as? String else { throw PolicyError("\(place).role must be a string") }
                guard roles[role] != nil else { throw PolicyError("\(place).role: no role named \(role)") }
                var scope = ContainerScope.all
                if let containers = item["containers"] {
                    guard let patterns = containers as? [String], !patterns.isEmpty else {
                        throw PolicyError("\(place).containers must be a non-empty list of id patterns")
                    }
                    for pattern in patterns where !ContainerScope.isValidPattern(pattern) {
                        throw PolicyError("\(place).containers: '\(pattern)' is not an id pattern (letters, digits, -, _, * and ?)")
                    }
                    scope = patterns.contains("*") ? .all : .patterns(patterns)
                }
                do {
                    grants.append(Grant(identity: try IdentityMatcher(parsing: identity), role: role, containers: scope))
                } catch {
                    throw PolicyError("\(place).\(error.message)")
                }
            }
        }
        var fromUnit = true
        if let value = root["roleFromOrganizationalUnit"] {
            guard let flag = value as? Bool else { throw PolicyError("roleFromOrganizationalUnit must be true or false") }
            fromUnit = flag
        }
        self.init(roles: roles, grants: grants, roleFromOrganizationalUnit: fromUnit)
    }

    private static func checkKeys(_ object: [String: Any], allowed: Set<String>, in place: String) throws(PolicyError) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw PolicyError("\(place): unknown key '\(unknown)' (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// Operation names, with `*` (all) and `PREFIX.*` (all of a kind).
    static func operations(_ names: [String], role: String) throws(PolicyError) -> Set<Operation> {
        var result = Set<Operation>()
        for name in names {
            if name == "*" {
                result.formUnion(Operation.all)
            } else if name.hasSuffix(".*") {
                let prefix = String(name.dropLast())
                let matched = Operation.all.filter { $0.rawValue.hasPrefix(prefix) }
                guard !matched.isEmpty else { throw PolicyError("role \(role): no operations match \(name)") }
                result.formUnion(matched)
            } else {
                guard Operation.all.contains(Operation(rawValue: name)) else {
                    throw PolicyError(
                        "role \(role): unknown operation \(name) (known: \(Operation.all.map(\.rawValue).joined(separator: ", ")))")
                }
                result.insert(Operation(rawValue: name))
            }
        }
        return result
    }
}
