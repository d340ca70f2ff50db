internal import EtcdV3
public import Foundation
internal import GRPCCore
internal import GRPCProtobuf
import Synchronization

/// One change a watch delivers.
public struct EtcdWatchEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case put, delete }
    public var kind: Kind
    /// The key and, for a put, its new value (a delete carries the key and the revision of the deletion).
    public var entry: EtcdEntry

    public init(kind: Kind, entry: EtcdEntry) {
        self.kind = kind
        self.entry = entry
    }
}

/// What one watch answer carries: the changes of one or more revisions, in order, or none (a progress report).
public struct EtcdWatchBatch: Sendable, Hashable {
    public var events: [EtcdWatchEvent]
    /// The store's revision when etcd sent it: every later event has a higher revision.
    public var revision: Int64

    public init(events: [EtcdWatchEvent], revision: Int64) {
        self.events = events
        self.revision = revision
    }
}

extension EtcdClient {
    var streamOptions: CallOptions {
        var options = CallOptions.defaults
        // A stream fails at once when etcd cannot be reached, so that its owner backs off and tries again.
        options.waitForReady = false
        options.maxResponseMessageBytes = Self.maxResponseBytes
        return options
    }

    /// Watches every key under `prefix` from `revision` (inclusive) and hands each answer to `handle`, in order,
    /// until the task is cancelled or the stream fails: `EtcdError.Code.compacted` when `revision` was compacted
    /// away (read everything again, then watch from the revision of that read plus one), `unavailable` when the
    /// connection was lost (watch again from the revision after the last one handled: nothing is missed).
    /// `created` runs once etcd has accepted the watch.
    public func watch(
        prefix: String, from revision: Int64, created: @escaping @Sendable () -> Void = {},
        _ handle: @escaping @Sendable (EtcdWatchBatch) async throws -> Void
    ) async throws(EtcdError) {
        var create = EtcdWatchCreateRequest()
        create.key = Data(prefix.utf8)
        create.rangeEnd = Self.rangeEnd(prefix)
        create.startRevision = revision
        create.progressNotify = true
        var request = EtcdWatchRequest()
        request.createRequest = create
        let first = request
        try await call("watch \(prefix)") {
            try await watchClient.watch(
                options: streamOptions,
                requestProducer: { writer in
                    try await writer.write(first)
                    // The request stream stays open for as long as the watch runs; ending the RPC cancels this.
                    while true { try await Task.sleep(for: .seconds(3600)) }
                },
                onResponse: { response in
                    for try await message in response.messages {
                        if message.canceled {
                            if message.compactRevision > 0 {
                                throw EtcdError(
                                    .compacted, "revision \(revision) was compacted (the oldest kept is \(message.compactRevision))")
                            }
                            let reason = message.cancelReason
                            throw EtcdError(
                                reason.contains("permission denied") ? .permissionDenied : .other, "the watch of \(prefix) ended: \(reason)")
                        }
                        let events = message.events.map { event in
                            EtcdWatchEvent(kind: event.type == .delete ? .delete : .put, entry: Self.keyValue(event.kv))
                        }
                        if message.created {
                            created()
                            if events.isEmpty { continue }
                        }
                        try await handle(EtcdWatchBatch(events: events, revision: message.header.revision))
                    }
                    throw EtcdError(.unavailable, "etcd ended the watch of \(prefix)")
                })
        }
    }

    // MARK: leases

    /// A new lease that expires `ttl` seconds after its last keep-alive; answers its id and etcd's TTL.
    public func grantLease(ttl: Int64) async throws(EtcdError) -> (id: Int64, ttl: Int64) {
        var request = EtcdLeaseGrantRequest()
        request.ttl = ttl
        let options = unaryOptions
        let response = try await call("grant a lease") { try await leaseClient.leaseGrant(request, options: options) }
        guard response.error.isEmpty else { throw EtcdError(.other, "grant a lease: \(response.error)") }
        return (response.id, response.ttl)
    }

    /// The seconds a lease has left; nil when it has expired or never existed.
    public func leaseTimeToLive(_ id: Int64) async throws(EtcdError) -> Int64? {
        var request = EtcdLeaseTimeToLiveRequest()
        request.id = id
        let options = unaryOptions
        do {
            let response = try await call("read lease \(id)") { try await leaseClient.leaseTimeToLive(request, options: options) }
            return response.ttl > 0 ? response.ttl : nil
        } catch  where error.code == .notFound {
            return nil
        }
    }

    /// Revokes a lease: every key attached to it is deleted.
    public func revokeLease(_ id: Int64) async throws(EtcdError) {
        var request = EtcdLeaseRevokeRequest()
        request.id = id
        let options = unaryOptions
        _ = try await call("revoke lease \(id)") { try await leaseClient.leaseRevoke(request, options: options) }
    }

    /// Keeps a lease alive, renewing it every `interval` and handing etcd's new TTL to `renewed`, until the task
    /// is cancelled or the stream fails: `EtcdError.Code.notFound` when the lease has expired (grant a new one),
    /// `unavailable` when the connection was lost, or a renewal went unanswered for `interval` twice over.
    public func keepAlive(
        lease id: Int64, every interval: Duration, _ renewed: @escaping @Sendable (Int64) async -> Void
    ) async throws(EtcdError) {
        var request = EtcdLeaseKeepAliveRequest()
        request.id = id
        let ping = request
        let answered = AnswerClock()
        try await call("keep lease \(id) alive") {
            try await leaseClient.leaseKeepAlive(
                options: streamOptions,
                requestProducer: { writer in
                    while true {
                        try await writer.write(ping)
                        try await Task.sleep(for: interval)
                        if ContinuousClock.now - answered.last > interval * 3 {
                            throw EtcdError(.unavailable, "etcd stopped answering the keep-alives of lease \(id)")
                        }
                    }
                },
                onResponse: { response in
                    for try await message in response.messages {
                        guard message.ttl > 0 else { throw EtcdError(.notFound, "lease \(id) has expired") }
                        answered.touch()
                        await renewed(message.ttl)
                    }
                    throw EtcdError(.unavailable, "etcd ended the keep-alives of lease \(id)")
                })
        }
    }
}

/// When a stream was last answered; shared by its writer and its reader.
final class AnswerClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var last: ContinuousClock.Instant { instant.withLock { $0 } }
    func touch() { instant.withLock { $0 = .now } }
}
