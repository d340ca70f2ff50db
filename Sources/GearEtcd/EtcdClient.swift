internal import EtcdV3
public import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2Posix
internal import GRPCProtobuf

/// A key and its value as etcd holds it.
public struct EtcdEntry: Sendable, Hashable {
    public var key: String
    public var value: Data
    public var createRevision: Int64
    public var modRevision: Int64
    public var version: Int64
    public var lease: Int64

    public init(key: String, value: Data, createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0, lease: Int64 = 0) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A change inside a transaction.
public enum EtcdOperation: Sendable, Hashable {
    case put(String, Data, lease: Int64 = 0)
    case delete(String)
    case deletePrefix(String)
}

/// A condition of a transaction.
public enum EtcdCondition: Sendable, Hashable {
    /// The key's last modification was at this revision (0: the key does not exist).
    case modRevision(String, equals: Int64)
}

/// A client of one etcd cluster: plain calls (range, put, delete, transactions, leases, users and roles) and the
/// long-running streams (watches, lease keep-alives). Its connections run while `runConnections()` does (or inside
/// `EtcdClient.with`); calls made while etcd cannot be reached fail after the configuration's call timeout with
/// `EtcdError.Code.unavailable`, and the connection is made again in the background.
public final class EtcdClient: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix
    let grpc: GRPCClient<Transport>
    let configuration: EtcdConfiguration
    let kv: EtcdKV.Client<Transport>
    let watchClient: EtcdWatch.Client<Transport>
    let leaseClient: EtcdLease.Client<Transport>
    let authClient: EtcdAuth.Client<Transport>
    let maintenance: EtcdMaintenance.Client<Transport>

    /// Largest answer accepted (a range is also read in pages of `pageSize` keys).
    static let maxResponseBytes = 64 << 20
    static let pageSize: Int64 = 1000

    public init(_ configuration: EtcdConfiguration) throws(EtcdError) {
        self.configuration = configuration
        let credentials = configuration.credentials
        let security = Transport.TransportSecurity.mTLS(
            certificateChain: [.file(path: credentials.certificate, format: .pem)],
            privateKey: .file(path: credentials.key, format: .pem)
        ) { tls in
            tls.trustRoots = .certificates([.file(path: credentials.certificateAuthority, format: .pem)])
        }
        var config = Transport.Config.defaults
        // A dead connection (etcd's host gone without a FIN) is noticed within seconds, not at the next write.
        config.connection.keepalive = .init(time: .seconds(5), timeout: .seconds(5), allowWithoutCalls: true)
        config.backoff = .init(initial: .milliseconds(200), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
        let endpoints = configuration.endpoints
        let target: any ResolvableTarget =
            switch EtcdConfiguration.family(endpoints[0].host) {
            case .ipv4: .ipv4(pairs: endpoints.map { ($0.host, $0.port) })
            case .ipv6: .ipv6(pairs: endpoints.map { ($0.host, $0.port) })
            case .name: .dns(host: endpoints[0].host, port: endpoints[0].port)
            }
        let transport: Transport
        do {
            // One connection per client, to a member picked at random: a fleet's nodes spread over the members instead
            // of all connecting to the first one named.
            transport = try Transport(
                target: target, transportSecurity: security, config: config,
                serviceConfig: ServiceConfig(loadBalancingConfig: [.pickFirst(shuffleAddressList: true)]))
        } catch {
            throw EtcdError(.invalid, "cannot set up a connection to \(endpoints.map(\.description).joined(separator: ",")): \(error)")
        }
        grpc = GRPCClient(transport: transport)
        kv = EtcdKV.Client(wrapping: grpc)
        watchClient = EtcdWatch.Client(wrapping: grpc)
        leaseClient = EtcdLease.Client(wrapping: grpc)
        authClient = EtcdAuth.Client(wrapping: grpc)
        maintenance = EtcdMaintenance.Client(wrapping: grpc)
    }

    /// Keeps the connections up until `close()` (or the task is cancelled).
    public func runConnections() async throws {
        try await grpc.runConnections()
    }

    /// Ends the connections once the calls in flight have ended.
    public func close() {
        grpc.beginGracefulShutdown()
    }

    /// Runs `body` with a client whose connections run meanwhile, and closes it after.
    public static func with<Result: Sendable>(
        _ configuration: EtcdConfiguration, _ body: @Sendable (EtcdClient) async throws -> Result
    ) async throws -> Result {
        let client = try EtcdClient(configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            defer {
                client.close()
                group.cancelAll()
            }
            return try await body(client)
        }
    }

    var unaryOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = configuration.callTimeout
        options.waitForReady = true
        options.maxResponseMessageBytes = Self.maxResponseBytes
        return options
    }

    /// Runs one call, its failure turned into an `EtcdError`.
    func call<Result>(_ what: String, _ body: () async throws -> Result) async throws(EtcdError) -> Result {
        do {
            return try await body()
        } catch let error as EtcdError {
            throw error
        } catch {
            throw Self.etcdError(error, what)
        }
    }

    static func etcdError(_ error: any Error, _ what: String) -> EtcdError {
        guard let rpc = error as? RPCError else { return EtcdError(.other, "\(what): \(error)") }
        let message = "\(what): \(rpc.message)"
        switch rpc.code {
        case .unavailable, .deadlineExceeded, .cancelled, .aborted, .resourceExhausted: return EtcdError(.unavailable, message)
        case .permissionDenied: return EtcdError(.permissionDenied, message)
        case .unauthenticated: return EtcdError(.unauthenticated, message)
        case .outOfRange: return EtcdError(.compacted, message)
        case .notFound: return EtcdError(.notFound, message)
        case .alreadyExists: return EtcdError(.alreadyExists, message)
        case .failedPrecondition:
            if rpc.message.contains("already exist") { return EtcdError(.alreadyExists, message) }
            if rpc.message.contains("not found") { return EtcdError(.notFound, message) }
            if rpc.message.contains("permission denied") { return EtcdError(.permissionDenied, message) }
            return EtcdError(.other, message)
        case .invalidArgument:
            if rpc.message.contains("permission denied") { return EtcdError(.permissionDenied, message) }
            return EtcdError(.invalid, message)
        default: return EtcdError(.other, message)
        }
    }

    // MARK: keys

    /// The end of the range of every key that starts with `prefix`.
    static func rangeEnd(_ prefix: String) -> Data {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }

    /// The value of one key, or nil.
    public func get(_ key: String) async throws(EtcdError) -> EtcdEntry? {
        var request = EtcdRangeRequest()
        request.key = Data(key.utf8)
        let options = unaryOptions
        let response = try await call("read \(key)") { try await kv.range(request, options: options) }
        return response.kvs.first.map(Self.keyValue)
    }

    /// Every key under `prefix` at one revision (`revision` 0: the newest), in key order, read in pages.
    public func range(
        prefix: String, revision: Int64 = 0, keysOnly: Bool = false
    ) async throws(EtcdError) -> (
        values: [EtcdEntry], revision: Int64
    ) {
        var values: [EtcdEntry] = []
        var start = Data(prefix.utf8)
        var at = revision
        let end = Self.rangeEnd(prefix)
        let options = unaryOptions
        while true {
            var request = EtcdRangeRequest()
            request.key = start
            request.rangeEnd = end
            request.limit = Self.pageSize
            request.revision = at
            request.keysOnly = keysOnly
            let page = try await call("read \(prefix)") { [request] in try await kv.range(request, options: options) }
            if at == 0 { at = page.header.revision }
            values += page.kvs.map(Self.keyValue)
            guard page.more, let last = page.kvs.last else { break }
            start = last.key + Data([0])
        }
        return (values, at)
    }

    /// Sets a key, attached to `lease` (0: none); answers the store's revision after it.
    @discardableResult
    public func put(_ key: String, _ value: Data, lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        var request = EtcdPutRequest()
        request.key = Data(key.utf8)
        request.value = value
        request.lease = lease
        let options = unaryOptions
        return try await call("write \(key)") { try await kv.put(request, options: options) }.header.revision
    }

    /// Deletes one key (or every key under a prefix); answers how many were deleted.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws(EtcdError) -> Int64 {
        var request = EtcdDeleteRangeRequest()
        request.key = Data(key.utf8)
        if prefix { request.rangeEnd = Self.rangeEnd(key) }
        let options = unaryOptions
        return try await call("delete \(key)") { try await kv.deleteRange(request, options: options) }.deleted
    }

    /// Applies `success` when every condition holds, else `failure`, atomically; answers which and the revision.
    @discardableResult
    public func transaction(
        if conditions: [EtcdCondition] = [], then success: [EtcdOperation], else failure: [EtcdOperation] = []
    ) async throws(EtcdError) -> (succeeded: Bool, revision: Int64) {
        var request = EtcdTxnRequest()
        request.compare = conditions.map { condition in
            var compare = EtcdCompare()
            switch condition {
            case .modRevision(let key, let revision):
                compare.key = Data(key.utf8)
                compare.target = .mod
                compare.result = .equal
                compare.modRevision = revision
            }
            return compare
        }
        request.success = success.map(Self.requestOp)
        request.failure = failure.map(Self.requestOp)
        let options = unaryOptions
        let response = try await call("transaction") { [request] in try await kv.txn(request, options: options) }
        return (response.succeeded, response.header.revision)
    }

    static func requestOp(_ operation: EtcdOperation) -> EtcdRequestOp {
        var op = EtcdRequestOp()
        switch operation {
        case .put(let key, let value, let lease):
            var put = EtcdPutRequest()
            put.key = Data(key.utf8)
            put.value = value
            put.lease = lease
            op.requestPut = put
        case .delete(let key):
            var delete = EtcdDeleteRangeRequest()
            delete.key = Data(key.utf8)
            op.requestDeleteRange = delete
        case .deletePrefix(let prefix):
            var delete = EtcdDeleteRangeRequest()
            delete.key = Data(prefix.utf8)
            delete.rangeEnd = rangeEnd(prefix)
            op.requestDeleteRange = delete
        }
        return op
    }

    /// Compacts the history up to `revision` (older revisions can no longer be read or watched from).
    public func compact(_ revision: Int64) async throws(EtcdError) {
        var request = EtcdCompactionRequest()
        request.revision = revision
        request.physical = true
        let options = unaryOptions
        _ = try await call("compact") { try await kv.compact(request, options: options) }
    }

    /// The version of the member answering, and the store's revision.
    public func status() async throws(EtcdError) -> (version: String, revision: Int64) {
        let options = unaryOptions
        let response = try await call("status") { try await maintenance.status(EtcdStatusRequest(), options: options) }
        return (response.version, response.header.revision)
    }

    static func keyValue(_ kv: EtcdV3.EtcdKeyValue) -> EtcdEntry {
        EtcdEntry(
            key: String(decoding: kv.key, as: UTF8.self), value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision,
            version: kv.version, lease: kv.lease)
    }
}
