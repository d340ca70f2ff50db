public import GearAuthorization
import GearCertificates
import Synchronization

/// Bounds on long-lived requests: streams each caller may hold, the keep-alive of idle server-sent event streams,
/// and the least an upload must send to stay.
public struct StreamLimits: Sendable {
    /// Log follows, event follows and job waits one certificate identity may hold open at once (past it: 429).
    public var perIdentity: Int = 64
    /// The same for all callers of one trusted local listener (loopback TCP, the unix socket) together.
    public var perLocalListener: Int = 1024
    /// How often an idle followed server-sent event stream sends a comment (`: keep-alive`), so that proxies and
    /// clients do not take it for dead.
    public var keepAliveInterval: Duration = .seconds(15)

    /// An upload (file, archive, image) must send at least `minimumUploadRate` bytes a second, measured over each
    /// `uploadRateWindow`: one that stalls is cut (408) and what it wrote is removed.
    public var minimumUploadRate: Int = 1024
    public var uploadRateWindow: Duration = .seconds(30)

    public init(
        perIdentity: Int = 64, perLocalListener: Int = 1024, keepAliveInterval: Duration = .seconds(15), minimumUploadRate: Int = 1024,
        uploadRateWindow: Duration = .seconds(30)
    ) {
        self.perIdentity = perIdentity
        self.perLocalListener = perLocalListener
        self.keepAliveInterval = keepAliveInterval
        self.minimumUploadRate = minimumUploadRate
        self.uploadRateWindow = uploadRateWindow
    }
}

/// An upload that sent less than the minimum rate: 408 `upload_too_slow` (the connection is closed).
struct UploadRateError: Error, CustomStringConvertible {
    var description: String
}

/// A caller past its cap of long-lived streams: 429 `too_many_streams` with `Retry-After`.
struct StreamLimitError: Error, CustomStringConvertible {
    var description: String
}

/// Counts the long-lived streams each caller holds; `enter` hands out a ticket that gives the place back when it goes.
final class StreamGate: Sendable {
    let limits: StreamLimits
    private let open = Mutex<[String: Int]>([:])

    init(limits: StreamLimits) { self.limits = limits }

    /// A place for one more stream of `caller`, or `StreamLimitError` when it holds its cap.
    func enter(_ caller: Caller) throws -> StreamTicket {
        let (key, cap): (String, Int) =
            switch caller {
            case .certificate(let identity): ("cert:\(identity.fingerprint)", limits.perIdentity)
            case .local(let listener): ("local:\(listener)", limits.perLocalListener)
            case .configStore(let source): ("store:\(source)", limits.perIdentity)
            case .rejected, .unauthenticated: ("nobody", 0)
            }
        let admitted = open.withLock { open -> Bool in
            let held = open[key, default: 0]
            guard held < cap else { return false }
            open[key] = held + 1
            return true
        }
        guard admitted else {
            throw StreamLimitError(
                description: "\(caller) holds \(cap) log follows, event follows and job waits, the most it may; close one or try again later")
        }
        return StreamTicket(gate: self, key: key)
    }

    fileprivate func leave(_ key: String) {
        open.withLock { open in
            let left = open[key, default: 1] - 1
            open[key] = left > 0 ? left : nil
        }
    }

    /// Streams held now, by caller key (for tests).
    var held: [String: Int] { open.withLock { $0 } }
}

/// The gate and caller of the request being handled (set by the server around each request; nil in-process, where
/// nothing is limited).
struct StreamAdmission: Sendable {
    let gate: StreamGate
    let caller: Caller

    @TaskLocal static var current: StreamAdmission?

    /// A place for one more long-lived stream of the current caller (nil when nothing is limited).
    static func enter() throws -> StreamTicket? {
        try current.map { try $0.gate.enter($0.caller) }
    }

    /// How often an idle followed SSE stream sends a keep-alive comment (nil: never).
    static var keepAliveInterval: Duration? { current?.gate.limits.keepAliveInterval }

    /// The least an upload must send per window (nil: no bound).
    static var uploadRate: (bytes: Int, window: Duration)? {
        current.map { limits in
            let window = limits.gate.limits.uploadRateWindow
            return (Int(Double(limits.gate.limits.minimumUploadRate) * (window / .seconds(1))), window)
        }
    }
}

/// One stream's place; it is given back when the ticket goes away.
final class StreamTicket: Sendable {
    private let gate: StreamGate
    private let key: String

    fileprivate init(gate: StreamGate, key: String) {
        self.gate = gate
        self.key = key
    }

    deinit { gate.leave(key) }
}
