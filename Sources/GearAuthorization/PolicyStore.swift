import Synchronization

/// The access policy in force; replaced whole when geard reloads its files (SIGHUP), so a request sees either the
/// old policy or the new one.
public final class PolicyStore: Sendable {
    public let path: String?
    private let current: Mutex<AccessPolicy>

    /// Loads the policy file at `path`, or the default policy (roles from OUs) when nil.
    public init(path: String?) throws(PolicyError) {
        self.path = path
        self.current = Mutex(try path.map { (p) throws(PolicyError) in try AccessPolicy.load(path: p) } ?? .default)
    }

    public init(policy: AccessPolicy) {
        self.path = nil
        self.current = Mutex(policy)
    }

    public var policy: AccessPolicy { current.withLock { $0 } }

    /// Reads the file again; on an error the policy in force stays.
    public func reload() throws(PolicyError) {
        guard let path else { return }
        let policy = try AccessPolicy.load(path: path)
        current.withLock { $0 = policy }
    }
}
