import Synchronization

/// The messages of one subscription, in the order the broker sent them, until it is unsubscribed, the broker
/// refuses it (the iteration then throws a `permissionViolation`) or the client shuts down. It survives
/// reconnections: the client subscribes again with the same id. Bounded: a consumer that reads slowly loses the
/// newest messages beyond `NATSConfiguration.subscriptionBuffer`, counted in `dropped`.
public struct NATSSubscription: AsyncSequence, Sendable {
    public typealias Element = NATSMessage
    /// The subject subscribed to (wildcards included).
    public var subject: String { entry.subject }
    /// The subscription's id on the connection.
    public var sid: UInt64 { entry.sid }
    /// How many messages were dropped because the consumer was behind.
    public var dropped: Int { entry.dropped.load(ordering: .relaxed) }

    let entry: SubscriptionEntry
    let stream: AsyncThrowingStream<NATSMessage, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<NATSMessage, any Error>.AsyncIterator { stream.makeAsyncIterator() }
}

/// What the client keeps of a subscription.
final class SubscriptionEntry: Sendable {
    let subject: String
    let queue: String?
    let sid: UInt64
    let continuation: AsyncThrowingStream<NATSMessage, any Error>.Continuation
    let dropped = Atomic<Int>(0)

    init(subject: String, queue: String?, sid: UInt64, continuation: AsyncThrowingStream<NATSMessage, any Error>.Continuation) {
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.continuation = continuation
    }

    /// Hands a message to the consumer: nil when it was delivered, else whether it was the subscription's first
    /// dropped message.
    func deliver(_ message: NATSMessage) -> Bool? {
        guard case .dropped = continuation.yield(message) else { return nil }
        return dropped.wrappingAdd(1, ordering: .relaxed).oldValue == 0
    }
}
