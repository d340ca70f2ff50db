internal import CSystemd
import Foundation
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One connection to systemd over D-Bus, owned by a dedicated thread.
///
/// sd-bus objects are not thread-safe, so the `sd_bus` and every message live on one thread that loops on
/// `sd_bus_process` and `poll` (with a bounded timeout and an eventfd to wake it for new work). Callers on any
/// thread submit work items to it and await the result. Method calls are sent asynchronously, so many can be in
/// flight; replies, signals and `JobRemoved` are dispatched in the order they arrive on the socket, which is what
/// makes `startJob` race-free (the reply naming a job is always handled before that job's `JobRemoved`).
///
/// If the bus goes away, pending calls and job waits fail with `.disconnected`, and the thread reconnects with
/// backoff, re-installing matches and the systemd `Subscribe`.
public final class BusConnection: @unchecked Sendable {
    // @unchecked Sendable: `inbox` is guarded by its Mutex; everything in `Confined` is touched only on the bus
    // thread (inside work items and sd-bus callbacks, which that thread runs).

    private struct Inbox {
        var items: [@Sendable (BusConnection) -> Void] = []
        var closed = false
    }

    private struct Subscriber {
        var filter: SignalFilter
        var continuation: AsyncStream<BusSignal>.Continuation
        var slot: OpaquePointer?
    }

    /// A watcher of unit property changes under an object path prefix (see `unitChanges`).
    private struct ChangeWatcher {
        var pathPrefix: String
        var continuation: AsyncStream<UnitChange>.Continuation
    }

    private enum PendingReply {
        case values(CheckedContinuation<[BusValue], any Error>)
        case properties(Set<String>?, CheckedContinuation<[String: BusValue], any Error>)
        case job(CheckedContinuation<JobCompletion, any Error>)
        case unitProperties(path: String, CheckedContinuation<[String: BusValue], any Error>)
        /// The answer to a listing of the loaded tracked units (`UnitPropertyCache.beginListing`).
        case trackedListing(UInt64)
    }

    /// Signals the connection handles itself, on the bus thread.
    private enum InternalSignal {
        case jobRemoved, propertiesChanged, unitNew, unitRemoved, reloading
    }

    private struct Confined {
        var bus: OpaquePointer?
        var pendingReplies: [UInt64: PendingReply] = [:]
        var jobWaiters: [String: CheckedContinuation<JobCompletion, any Error>] = [:]
        var finishedJobs: [String: JobCompletion] = [:]
        var finishedOrder: [String] = []
        var subscribers: [UInt64: Subscriber] = [:]
        var changeWatchers: [UInt64: ChangeWatcher] = [:]
        var slotOwners: [OpaquePointer: UInt64] = [:]
        var internalSlots: [OpaquePointer: InternalSignal] = [:]
        var nextSubscriberID: UInt64 = 1
        var connectFailures = 0
    }

    /// Where this connection goes.
    public let address: BusAddress
    private let logger: Logger
    private let wakeFD: Int32
    private let inbox = Mutex(Inbox())
    private var confined = Confined()
    private let connected = Atomic<Bool>(false)
    /// Unit properties kept current by signals (see `unitProperties`).
    let unitCache = UnitPropertyCache()
    private let reconnects = Atomic<Int>(0)

    /// Opens the connection and starts its thread; the first connect happens on that thread.
    public init(address: BusAddress, logger: Logger) {
        self.address = address
        self.logger = logger
        self.wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "gear-sd-bus"
        thread.start()
    }

    /// The address to use by default: systemd's private socket when we may use it, else the system bus.
    public static func defaultAddress() -> BusAddress {
        let privatePath = "/run/systemd/private"
        if geteuid() == 0, access(privatePath, W_OK) == 0 { return .systemdPrivate(path: privatePath) }
        return .system
    }

    /// True while the connection is up.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }

    /// How many times the connection was re-established after it went away.
    public var reconnectCount: Int { reconnects.load(ordering: .relaxed) }

    /// Closes the connection; pending calls fail with `.closed`.
    public func close() {
        let wasClosed = inbox.withLock { inbox in
            defer { inbox.closed = true }
            return inbox.closed
        }
        if !wasClosed { wake() }
    }

    // MARK: public calls

    /// Calls a method and returns the values of its reply.
    public func call(_ call: MethodCall) async throws -> [BusValue] {
        try await withCheckedThrowingContinuation { continuation in
            submit { connection in connection.send(call, pending: .values(continuation)) }
        }
    }

    /// Reads properties with `org.freedesktop.DBus.Properties.GetAll`; `interface` "" means all interfaces.
    /// Only the names in `wanted` are decoded (all when nil).
    public func properties(
        destination: String = "org.freedesktop.systemd1",
        path: String,
        interface: String,
        wanted: Set<String>?
    ) async throws -> [String: BusValue] {
        let call = MethodCall(
            destination: destination,
            path: path,
            interface: "org.freedesktop.DBus.Properties",
            member: "GetAll",
            arguments: [.string(interface)]
        )
        return try await withCheckedThrowingContinuation { continuation in
            submit { connection in connection.send(call, pending: .properties(wanted, continuation)) }
        }
    }

    /// Keeps track of which units whose names start with `namePrefix` systemd holds loaded, so that the state of
    /// one it does not hold is answered without loading it (see `UnitPropertyCache`). Call once, early.
    public func trackUnits(namePrefix: String) {
        unitCache.track(namePrefix: namePrefix, pathPrefix: SystemdManager.unitPath(namePrefix))
        submit { $0.listTrackedUnits() }
    }

    /// What the cache knows of the units at `paths` (named `names`), in order, under one lock.
    func unitLookups(paths: [String], names: [String]) -> [UnitPropertyCache.Lookup] {
        unitCache.lookups(paths, names: names)
    }

    /// Waits until the loaded tracked units are known again after a connect or reload; false after `timeout`.
    func waitForTrackedUnits(timeout: Duration) async -> Bool {
        await unitCache.waitUntilListed(timeout: timeout)
    }

    /// A number that changes whenever a cached unit state does (see `cachedUnitStatus`): what was derived from the
    /// cache at one value is still current while it holds.
    public var unitStateGeneration: UInt64 { unitCache.generation }

    public func unitProperties(path: String) async throws -> [String: BusValue] {
        if let cached = unitCache.properties(path) { return cached }
        let call = MethodCall(path: path, interface: "org.freedesktop.DBus.Properties", member: "GetAll", arguments: [.string("")])
        return try await withCheckedThrowingContinuation { continuation in
            submit { connection in connection.send(call, pending: .unitProperties(path: path, continuation)) }
        }
    }

    /// Calls a systemd method that queues a job (`StartUnit`, `StopUnit`, ...) and waits for the job to end,
    /// through the `JobRemoved` signal.
    public func startJob(_ call: MethodCall) async throws -> JobCompletion {
        try await withCheckedThrowingContinuation { continuation in
            submit { connection in connection.send(call, pending: .job(continuation)) }
        }
    }

    /// Streams the signals that match `filter` until the stream is dropped. Survives reconnects.
    public func signals(_ filter: SignalFilter, bufferingNewest limit: Int = 4096) -> AsyncStream<BusSignal> {
        let (stream, continuation) = AsyncStream.makeStream(of: BusSignal.self, bufferingPolicy: .bufferingNewest(limit))
        submit { connection in
            let id = connection.confined.nextSubscriberID
            connection.confined.nextSubscriberID += 1
            connection.confined.subscribers[id] = Subscriber(filter: filter, continuation: continuation, slot: nil)
            connection.installMatch(subscriber: id)
            continuation.onTermination = { [weak connection] _ in
                connection?.submit { $0.removeSubscriber(id) }
            }
        }
        return stream
    }

    /// Streams the state-property changes (`UnitPropertyCache.cacheable`) of units whose names start with
    /// `unitPrefix`, decoded on the bus thread from the `PropertiesChanged` signals the connection receives anyway,
    /// in the order systemd sent them; `.reconnected` after the connection was re-established (changes may have
    /// been missed: read the states again). Ends when the stream is dropped or the connection closes.
    public func unitChanges(unitPrefix: String, bufferingNewest limit: Int = 65_536) -> AsyncStream<UnitChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: UnitChange.self, bufferingPolicy: .bufferingNewest(limit))
        // The object path of a unit escapes every byte but letters and digits: `ctr-` is `ctr_2d`.
        let prefix = SystemdManager.unitPath(unitPrefix)
        submit { connection in
            let id = connection.confined.nextSubscriberID
            connection.confined.nextSubscriberID += 1
            connection.confined.changeWatchers[id] = ChangeWatcher(pathPrefix: prefix, continuation: continuation)
            continuation.onTermination = { [weak connection] _ in
                connection?.submit { _ = $0.confined.changeWatchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    // MARK: thread and loop

    private func submit(_ item: @escaping @Sendable (BusConnection) -> Void) {
        let closed = inbox.withLock { inbox in
            if !inbox.closed { inbox.items.append(item) }
            return inbox.closed
        }
        if closed {
            item(self)  // runs against a nil bus: fails at once with .closed
        } else {
            wake()
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    private func runLoop() {
        while true {
            let (items, closed) = inbox.withLock { inbox in
                defer { inbox.items.removeAll(keepingCapacity: true) }
                return (inbox.items, inbox.closed)
            }
            if closed {
                for item in items { item(self) }
                teardown(reason: BusError(code: .closed, message: "bus connection closed"))
                Glibc.close(wakeFD)
                return
            }
            if confined.bus == nil { connect() }
            for item in items { item(self) }
            guard let bus = confined.bus else {
                waitForWork(busFD: nil, events: 0, timeoutMilliseconds: reconnectDelayMilliseconds())
                continue
            }
            var r: Int32 = 1
            while r > 0 { r = sd_bus_process(bus, nil) }
            if r < 0 || sd_bus_is_open(bus) <= 0 {
                logger.warning("systemd bus connection lost", metadata: ["bus.address": "\(address)", "errno": "\(-r)"])
                teardown(reason: BusError(code: .disconnected, message: "lost the connection to systemd"))
                continue
            }
            waitForWork(busFD: sd_bus_get_fd(bus), events: Int16(truncatingIfNeeded: sd_bus_get_events(bus)), timeoutMilliseconds: busTimeout(bus))
        }
    }

    private func busTimeout(_ bus: OpaquePointer) -> Int32 {
        var deadline: UInt64 = 0
        guard sd_bus_get_timeout(bus, &deadline) >= 0, deadline != UInt64.max else { return 1000 }
        let now = gear_monotonic_usec()
        if deadline <= now { return 0 }
        return Int32(min(1000, (deadline - now + 999) / 1000))
    }

    private func reconnectDelayMilliseconds() -> Int32 {
        Int32(min(2000, 100 << min(confined.connectFailures, 5)))
    }

    private func waitForWork(busFD: Int32?, events: Int16, timeoutMilliseconds: Int32) {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        if let busFD { fds.append(pollfd(fd: busFD, events: events, revents: 0)) }
        let r = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        if r > 0, fds[0].revents & Int16(POLLIN) != 0 {
            var counter: UInt64 = 0
            _ = Glibc.read(wakeFD, &counter, 8)
        }
    }

    // MARK: connect / teardown (bus thread)

    private func connect() {
        var bus: OpaquePointer? = nil
        do {
            switch address {
            case .system:
                try busCheck(sd_bus_open_system(&bus), "open the system bus")
            case .systemdPrivate(let path):
                try busCheck(sd_bus_new(&bus), "sd_bus_new")
                try busCheck(sd_bus_set_address(bus, "unix:path=\(path)"), "set bus address")
                try busCheck(sd_bus_start(bus), "connect to \(path)")
            case .address(let string, let busClient):
                try busCheck(sd_bus_new(&bus), "sd_bus_new")
                try busCheck(sd_bus_set_address(bus, string), "set bus address")
                try busCheck(sd_bus_set_bus_client(bus, busClient ? 1 : 0), "set bus client")
                try busCheck(sd_bus_start(bus), "connect to \(string)")
            }
            confined.bus = bus
            let me = Unmanaged.passUnretained(self).toOpaque()
            let matches: [(InternalSignal, String)] = [
                (.jobRemoved, "type='signal',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"),
                (.unitNew, "type='signal',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitNew'"),
                (.unitRemoved, "type='signal',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitRemoved'"),
                (.reloading, "type='signal',path='/org/freedesktop/systemd1',interface='org.freedesktop.systemd1.Manager',member='Reloading'"),
                (
                    .propertiesChanged,
                    "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'"
                ),
            ]
            for (kind, rule) in matches {
                var slot: OpaquePointer? = nil
                try busCheck(sd_bus_add_match(bus, &slot, rule, busSignalCallback, me), "add match \(rule)")
                if let slot { confined.internalSlots[slot] = kind }
            }
            unitCache.removeAll()
            for id in confined.subscribers.keys { installMatch(subscriber: id) }
            // Without Subscribe systemd sends no JobRemoved/PropertiesChanged on this connection.
            sendIgnoringReply(MethodCall(path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager", member: "Subscribe"))
            listTrackedUnits()
            if confined.connectFailures > 0 || reconnects.load(ordering: .relaxed) > 0 || wasConnectedOnce {
                reconnects.add(1, ordering: .relaxed)
                logger.notice("systemd bus connection re-established", metadata: ["bus.address": "\(address)"])
            }
            if wasConnectedOnce {
                for watcher in confined.changeWatchers.values { watcher.continuation.yield(.reconnected) }
            }
            wasConnectedOnce = true
            confined.connectFailures = 0
            connected.store(true, ordering: .relaxed)
        } catch {
            for slot in confined.internalSlots.keys { sd_bus_slot_unref(slot) }
            confined.internalSlots.removeAll()
            if let bus { sd_bus_close_unref(bus) }
            confined.bus = nil
            if confined.connectFailures == 0 {
                logger.error("cannot connect to systemd over D-Bus", metadata: ["bus.address": "\(address)", "error": "\(error)"])
            }
            confined.connectFailures += 1
        }
    }

    private var wasConnectedOnce = false

    /// Fails everything that waits on this connection and drops the bus; the loop reconnects if not closed.
    private func teardown(reason: BusError) {
        connected.store(false, ordering: .relaxed)
        if let bus = confined.bus {
            // Let sd-bus synthesize error replies for calls in flight, then drop what is left.
            while sd_bus_process(bus, nil) > 0 {}
            for (_, subscriber) in confined.subscribers {
                if let slot = subscriber.slot { sd_bus_slot_unref(slot) }
            }
            for slot in confined.internalSlots.keys { sd_bus_slot_unref(slot) }
            sd_bus_flush_close_unref(bus)
        }
        unitCache.removeAll()
        unitCache.abandonListing()
        confined.bus = nil
        confined.internalSlots.removeAll()
        confined.slotOwners.removeAll()
        for id in confined.subscribers.keys { confined.subscribers[id]?.slot = nil }
        let replies = confined.pendingReplies
        confined.pendingReplies.removeAll()
        for (_, pending) in replies { fail(pending, reason) }
        let waiters = confined.jobWaiters
        confined.jobWaiters.removeAll()
        for (_, waiter) in waiters { waiter.resume(throwing: reason) }
        confined.finishedJobs.removeAll()
        confined.finishedOrder.removeAll()
        if reason.code == .closed {
            for (_, subscriber) in confined.subscribers { subscriber.continuation.finish() }
            confined.subscribers.removeAll()
            for (_, watcher) in confined.changeWatchers { watcher.continuation.finish() }
            confined.changeWatchers.removeAll()
        }
    }

    // MARK: sending (bus thread)

    private func makeCall(_ bus: OpaquePointer, _ call: MethodCall) throws(BusError) -> BusMessage {
        var m: OpaquePointer? = nil
        try busCheck(
            sd_bus_message_new_method_call(bus, &m, call.destination, call.path, call.interface, call.member),
            "new method call \(call.member)")
        let message = BusMessage(adopting: m!)
        for argument in call.arguments { try message.append(argument) }
        return message
    }

    private func send(_ call: MethodCall, pending: PendingReply) {
        guard let bus = confined.bus else {
            let closed = inbox.withLock { $0.closed }
            fail(pending, BusError(code: closed ? .closed : .disconnected, message: "not connected to systemd (\(address))"))
            return
        }
        do {
            let message = try makeCall(bus, call)
            let usec: UInt64 =
                call.timeout.map { UInt64($0.components.seconds) * 1_000_000 + UInt64($0.components.attoseconds / 1_000_000_000_000) } ?? 0
            try busCheck(
                sd_bus_call_async(bus, nil, message.pointer, busReplyCallback, Unmanaged.passUnretained(self).toOpaque(), usec),
                "send \(call.member)")
            guard let cookie = message.cookie else {
                throw BusError(code: .unexpectedReply, message: "sent message has no cookie")
            }
            confined.pendingReplies[cookie] = pending
        } catch {
            fail(pending, error)
        }
    }

    /// Asks systemd which tracked units it holds loaded (bus thread); reads of tracked units wait for the answer.
    private func listTrackedUnits() {
        guard let name = unitCache.trackedNamePrefix, confined.bus != nil else { return }
        let number = unitCache.beginListing()
        let call = MethodCall(
            path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager", member: "ListUnitsByPatterns",
            arguments: [.strings([]), .strings([name + "*"])])
        send(call, pending: .trackedListing(number))
    }

    private func sendIgnoringReply(_ call: MethodCall) {
        guard let bus = confined.bus, let message = try? makeCall(bus, call) else { return }
        _ = sd_bus_send(bus, message.pointer, nil)
    }

    private func fail(_ pending: PendingReply, _ error: any Error) {
        switch pending {
        case .values(let c): c.resume(throwing: error)
        case .properties(_, let c): c.resume(throwing: error)
        case .job(let c): c.resume(throwing: error)
        case .unitProperties(_, let c): c.resume(throwing: error)
        case .trackedListing: unitCache.abandonListing()
        }
    }

    // MARK: dispatch (bus thread, from sd-bus callbacks)

    fileprivate func dispatchReply(_ message: BusMessage) {
        guard let cookie = message.replyCookie, let pending = confined.pendingReplies.removeValue(forKey: cookie) else { return }
        if let error = message.error {
            fail(pending, error)
            return
        }
        do {
            switch pending {
            case .values(let c):
                c.resume(returning: try message.readAll())
            case .properties(let wanted, let c):
                c.resume(returning: try message.readProperties(wanted: wanted))
            case .unitProperties(let path, let c):
                let properties = try message.readProperties(wanted: UnitPropertyCache.cacheable)
                unitCache.store(path, properties)
                c.resume(returning: properties)
            case .trackedListing(let number):
                let rows = (try message.readValue())?.elements ?? []
                let paths = rows.compactMap { UnitListEntry($0)?.name }.map(SystemdManager.unitPath)
                unitCache.applyListing(number, loaded: Set(paths))
            case .job(let c):
                guard let path = try message.readValue()?.string else {
                    throw BusError(code: .unexpectedReply, message: "job call did not return an object path")
                }
                if let done = confined.finishedJobs.removeValue(forKey: path) {
                    c.resume(returning: done)
                } else {
                    confined.jobWaiters[path] = c
                }
            }
        } catch {
            fail(pending, error)
        }
    }

    fileprivate func dispatchSignal(_ message: BusMessage, slot: OpaquePointer?) {
        if let slot, let kind = confined.internalSlots[slot] {
            switch kind {
            case .jobRemoved: handleJobRemoved(message)
            case .propertiesChanged: handlePropertiesChanged(message)
            case .unitNew:
                if let values = try? message.readAll(), values.count == 2, let path = values[1].string { unitCache.unitLoaded(path) }
            case .unitRemoved:
                if let values = try? message.readAll(), values.count == 2, let path = values[1].string { unitCache.unitUnloaded(path) }
            case .reloading:
                // `Reloading(true)` before a reload, `Reloading(false)` once it is done.
                if let values = try? message.readAll(), values.first?.bool == false {
                    listTrackedUnits()
                } else {
                    unitCache.reloadBegan()
                }
            }
            return
        }
        guard let slot, let id = confined.slotOwners[slot], let subscriber = confined.subscribers[id] else { return }
        guard let values = try? message.readAll() else { return }
        subscriber.continuation.yield(
            BusSignal(path: message.path ?? "", interface: message.interface ?? "", member: message.member ?? "", arguments: values))
    }

    private func handlePropertiesChanged(_ message: BusMessage) {
        guard let path = message.path else { return }
        // Only a loaded unit changes: this one is loaded, whether or not its `UnitNew` was seen yet.
        unitCache.unitLoaded(path)
        let cached = unitCache.hasEntry(path)
        let watchers = confined.changeWatchers.values.filter { path.hasPrefix($0.pathPrefix) }
        guard cached || !watchers.isEmpty else { return }
        guard (try? message.readValue()) != nil,
            let changed = try? message.readProperties(wanted: UnitPropertyCache.cacheable),
            let invalidated = try? message.readValue()?.elements?.compactMap(\.string)
        else {
            unitCache.remove(path)
            return
        }
        if cached { unitCache.apply(path: path, changed: changed, invalidated: invalidated) }
        guard !watchers.isEmpty, !changed.isEmpty, let unit = SystemdManager.unitName(path: path) else { return }
        for watcher in watchers { watcher.continuation.yield(.changed(unit: unit, properties: changed)) }
    }

    private func handleJobRemoved(_ message: BusMessage) {
        guard let values = try? message.readAll(), values.count == 4,
            let id = values[0].integer, let path = values[1].string, let unit = values[2].string, let result = values[3].string
        else { return }
        let completion = JobCompletion(id: UInt32(id), path: path, unit: unit, result: result)
        if let waiter = confined.jobWaiters.removeValue(forKey: path) {
            waiter.resume(returning: completion)
            return
        }
        // A job whose reply we have not handled yet (or that is not ours): keep a bounded memory of it.
        confined.finishedJobs[path] = completion
        confined.finishedOrder.append(path)
        if confined.finishedOrder.count > 1024 {
            let drop = confined.finishedOrder.prefix(512)
            for old in drop { confined.finishedJobs.removeValue(forKey: old) }
            confined.finishedOrder.removeFirst(512)
        }
    }

    private func installMatch(subscriber id: UInt64) {
        guard let bus = confined.bus, let subscriber = confined.subscribers[id] else { return }
        var slot: OpaquePointer? = nil
        let r = subscriber.filter.matchRule.withCString {
            sd_bus_add_match(bus, &slot, $0, busSignalCallback, Unmanaged.passUnretained(self).toOpaque())
        }
        if r < 0 {
            logger.error("cannot add D-Bus match", metadata: ["bus.match": "\(subscriber.filter.matchRule)", "errno": "\(-r)"])
            return
        }
        confined.subscribers[id]?.slot = slot
        if let slot { confined.slotOwners[slot] = id }
    }

    private func removeSubscriber(_ id: UInt64) {
        guard let subscriber = confined.subscribers.removeValue(forKey: id) else { return }
        if let slot = subscriber.slot {
            confined.slotOwners.removeValue(forKey: slot)
            sd_bus_slot_unref(slot)
        }
    }

    fileprivate var currentBus: OpaquePointer? { confined.bus }
}

/// sd-bus reply callback: `userdata` is the (unretained) `BusConnection`, which outlives its bus.
private func busReplyCallback(
    _ message: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ error: UnsafeMutablePointer<sd_bus_error>?
) -> Int32 {
    guard let message, let userdata else { return 0 }
    let connection = Unmanaged<BusConnection>.fromOpaque(userdata).takeUnretainedValue()
    connection.dispatchReply(BusMessage(retaining: message))
    return 0
}

/// sd-bus signal callback: the current slot tells which subscription matched.
private func busSignalCallback(
    _ message: OpaquePointer?, _ userdata: UnsafeMutableRawPointer?, _ error: UnsafeMutablePointer<sd_bus_error>?
) -> Int32 {
    guard let message, let userdata else { return 0 }
    let connection = Unmanaged<BusConnection>.fromOpaque(userdata).takeUnretainedValue()
    let slot = connection.currentBus.flatMap { sd_bus_get_current_slot($0) }
    connection.dispatchSignal(BusMessage(retaining: message), slot: slot)
    return 0
}
