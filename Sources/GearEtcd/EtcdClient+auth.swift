internal import EtcdV3
public import Foundation
internal import GRPCCore
internal import GRPCProtobuf

/// What a role may do with a range of keys.
public enum EtcdAccess: String, Sendable, Hashable, CaseIterable {
    case read, write, readwrite
}

/// One permission of a role: a kind of access to every key under a prefix.
public struct EtcdGrant: Sendable, Hashable, CustomStringConvertible {
    public var access: EtcdAccess
    public var prefix: String

    public init(_ access: EtcdAccess, prefix: String) {
        self.access = access
        self.prefix = prefix
    }

    public var description: String { "\(access) \(prefix)*" }
}

/// etcd's users and roles (what `etcdctl user` and `etcdctl role` do), for `gear etcd grant`. A user made without
/// a password can only be used through a client certificate whose common name is its name.
extension EtcdClient {
    /// Adds a user without a password; an existing user is left as it is (answers false).
    @discardableResult
    public func addUser(_ name: String) async throws(EtcdError) -> Bool {
        var request = EtcdAuthUserAddRequest()
        request.name = name
        var options = EtcdUserAddOptions()
        options.noPassword = true
        request.options = options
        let call = unaryOptions
        do {
            _ = try await self.call("add user \(name)") { try await authClient.userAdd(request, options: call) }
            return true
        } catch  where error.code == .alreadyExists {
            return false
        }
    }

    /// Adds a role; an existing role is left as it is (answers false).
    @discardableResult
    public func addRole(_ name: String) async throws(EtcdError) -> Bool {
        var request = EtcdAuthRoleAddRequest()
        request.name = name
        let call = unaryOptions
        do {
            _ = try await self.call("add role \(name)") { try await authClient.roleAdd(request, options: call) }
            return true
        } catch  where error.code == .alreadyExists {
            return false
        }
    }

    /// Grants a role a kind of access to every key under a prefix.
    public func grant(_ grant: EtcdGrant, to role: String) async throws(EtcdError) {
        var permission = EtcdV3.EtcdPermission()
        permission.permType =
            switch grant.access {
            case .read: .read
            case .write: .write
            case .readwrite: .readwrite
            }
        permission.key = Data(grant.prefix.utf8)
        permission.rangeEnd = Self.rangeEnd(grant.prefix)
        var request = EtcdAuthRoleGrantPermissionRequest()
        request.name = role
        request.perm = permission
        let call = unaryOptions
        _ = try await self.call("grant \(grant) to role \(role)") { try await authClient.roleGrantPermission(request, options: call) }
    }

    /// Gives a user a role.
    public func grantRole(_ role: String, to user: String) async throws(EtcdError) {
        var request = EtcdAuthUserGrantRoleRequest()
        request.user = user
        request.role = role
        let call = unaryOptions
        _ = try await self.call("grant role \(role) to \(user)") { try await authClient.userGrantRole(request, options: call) }
    }

    /// The roles of a user.
    public func roles(of user: String) async throws(EtcdError) -> [String] {
        var request = EtcdAuthUserGetRequest()
        request.name = user
        let call = unaryOptions
        return try await self.call("read user \(user)") { try await authClient.userGet(request, options: call) }.roles
    }

    /// The permissions of a role, as prefixes (a permission on a range that is not a prefix's is left out).
    public func grants(of role: String) async throws(EtcdError) -> [EtcdGrant] {
        var request = EtcdAuthRoleGetRequest()
        request.role = role
        let call = unaryOptions
        let response = try await self.call("read role \(role)") { try await authClient.roleGet(request, options: call) }
        return response.perm.compactMap { permission in
            let prefix = String(decoding: permission.key, as: UTF8.self)
            guard permission.rangeEnd == Self.rangeEnd(prefix) else { return nil }
            let kind: EtcdAccess =
                switch permission.permType {
                case .read: .read
                case .write: .write
                default: .readwrite
                }
            return EtcdGrant(kind, prefix: prefix)
        }
    }

    /// Turns authentication on (the `root` user must exist).
    public func enableAuthentication() async throws(EtcdError) {
        let call = unaryOptions
        _ = try await self.call("enable authentication") { try await authClient.authEnable(EtcdAuthEnableRequest(), options: call) }
    }
}
