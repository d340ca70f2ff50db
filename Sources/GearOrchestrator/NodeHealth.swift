import Foundation

/// How the leader judges each node over time: since when one has been silent (its observed node entry gone), which
/// it declared dead (silent past the grace period, its instances placed elsewhere), and which flap: a node declared
/// dead that comes back takes nothing new for a while, doubling with each time it comes back lately, so that a node
/// that keeps dying is not given instances to lose again (Nomad's and Kubernetes' answer to the same is similar:
/// a node's eligibility, taints after repeated not-ready). Kept in the leader's memory: a new leader gives every
/// silent node its full grace from the start of its term and knows no flaps yet.
struct NodeHealth {
    var grace: Duration
    /// The first time a node comes back from the dead it takes nothing new for this long; twice as long the next.
    var flapBackOff: Duration = .seconds(30)
    var maxFlapBackOff: Duration = .seconds(600)
    /// A node that has reported itself this long since it last came back is forgiven its flaps.
    var flapMemory: Duration = .seconds(1800)

    private var silentSince: [String: ContinuousClock.Instant] = [:]
    private var dead: Set<String> = []
    private var flaps: [String: (count: Int, backAt: ContinuousClock.Instant)] = [:]

    init(grace: Duration) {
        self.grace = grace
    }

    /// The node's entry went (or was not there when the term began, or cannot be read).
    mutating func silent(_ node: String, at now: ContinuousClock.Instant) {
        if silentSince[node] == nil { silentSince[node] = now }
    }

    /// The node's entry is there: when it had been declared dead, it came back (a flap).
    mutating func reported(_ node: String, at now: ContinuousClock.Instant) {
        silentSince[node] = nil
        if dead.remove(node) != nil { flaps[node] = ((flaps[node]?.count ?? 0) + 1, now) }
    }

    /// Each node's condition now (`reporting`: node name → whether its entry is there), noting those that pass
    /// their grace period as dead.
    mutating func update(_ reporting: [String: Bool], at now: ContinuousClock.Instant) -> [String: NodeCondition] {
        var result: [String: NodeCondition] = [:]
        for (name, reports) in reporting {
            if reports {
                if silentSince[name] != nil || dead.contains(name) { reported(name, at: now) }
                result[name] = .ready
                if let flap = flaps[name], now - flap.backAt >= flapMemory { flaps[name] = nil }
                continue
            }
            silent(name, at: now)
            let silence = now - silentSince[name]!
            let seconds = Int(silence.components.seconds)
            if silence >= grace {
                dead.insert(name)
                result[name] = .dead(seconds: seconds)
            } else {
                result[name] = .silent(seconds: seconds)
            }
        }
        return result
    }

    /// Nodes back from the dead lately that take nothing new yet, with the planner's reason.
    func quarantined(at now: ContinuousClock.Instant) -> [String: String] {
        var result: [String: String] = [:]
        for (name, flap) in flaps where !dead.contains(name) {
            let wait = backOff(flap.count)
            let left = wait - (now - flap.backAt)
            guard left > .zero else { continue }
            let times = flap.count == 1 ? "once" : "\(flap.count) times"
            result[name] =
                "flapping: back from the dead \(times) lately, takes nothing new for \(left.components.seconds + (left.components.attoseconds > 0 ? 1 : 0)) s more"
        }
        return result
    }

    func backOff(_ count: Int) -> Duration {
        var wait = flapBackOff
        for _ in 1..<max(count, 1) {
            wait = wait * 2
            if wait >= maxFlapBackOff { return maxFlapBackOff }
        }
        return min(wait, maxFlapBackOff)
    }
}
