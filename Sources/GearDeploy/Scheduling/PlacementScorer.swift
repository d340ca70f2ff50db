import Foundation

/// How a node is scored for one instance, once it passed every filter: higher is better, between 0 and 1 before the
/// anti-affinity penalty. docs/scheduling.md gives the formulas and why.
///
/// The resources counted are CPUs and memory always (an instance that asks for neither still fills or empties a
/// node), disk and ports when the instance asks for them.
/// - `binpack`: best fit on every counted resource together, times the alignment of the instance's shape with the
///   node's room (Tetris): (1 − √(mean of squares of what would be left of each resource, as a fraction of the
///   pool's largest amount of it)) × cos(angle between the demand and the free CPUs and memory, 1 for an instance
///   that asks for only one of them). A node the instance fills exactly scores 1; a CPU-heavy instance goes where
///   CPUs are left rather than memory.
/// - `spread`: Kubernetes' LeastAllocated and BalancedAllocation with equal weights, over every counted resource:
///   the mean of (1 − mean utilisation after placement) and (1 − the standard deviation of the utilisations).
/// - both: a node that already runs instances of the same container is penalised as Nomad's job anti-affinity does:
///   the mean of the score and −(instances there + 1) ÷ the container's count.
public struct PlacementScorer: Sendable {
    public var strategy: PlacementStrategy
    /// What the instance asks for.
    public var demand: Resources
    /// The pool's largest capacity of each resource.
    public var largest: Resources
    /// The pool's smallest capacity of each resource (for the index's bounds).
    public var smallest: Resources
    /// The resources counted, by their index in `Resources`.
    let counted: [Int]

    public init(strategy: PlacementStrategy, demand: Resources, largest: Resources, smallest: Resources) {
        self.strategy = strategy
        self.demand = demand
        self.largest = largest
        self.smallest = smallest
        counted = [0, 1] + (demand.disk > 0 ? [2] : []) + (demand.ports > 0 ? [3] : [])
    }

    /// The node's score, or nil when the instance does not fit in `free`.
    public func score(free: Resources, total: Resources) -> Double? {
        guard free.holds(demand) else { return nil }
        switch strategy {
        case .binpack:
            var squares = 0.0
            for r in counted where largest[r] > 0 {
                let left = (free[r] - demand[r]) / largest[r]
                squares += left * left
            }
            let fit = 1 - (squares / Double(counted.count)).squareRoot()
            return fit * alignment(free.cpus / largestCPUs, free.memory / largestMemory)
        case .spread:
            var sum = 0.0
            var squares = 0.0
            for r in counted {
                let used = total[r] > 0 ? min(max(1 - (free[r] - demand[r]) / total[r], 0), 1) : 1
                sum += used
                squares += used * used
            }
            let m = Double(counted.count)
            let mean = sum / m
            let deviation = max(squares / m - mean * mean, 0).squareRoot()
            return ((1 - mean) + (1 - deviation)) / 2
        }
    }

    /// Nomad's job anti-affinity: a node that runs `collisions` instances of the container (of `count`) already.
    public static func antiAffinity(_ score: Double, collisions: Int, count: Int) -> Double {
        collisions > 0 ? (score - Double(collisions + 1) / Double(max(count, 1))) / 2 : score
    }

    /// Where a node sits in the index, each coordinate in 0...1: binpack by free CPUs and memory as fractions of the
    /// pool's largest, spread as fractions of the node's own.
    func coordinates(free: Resources, total: Resources) -> (Double, Double) {
        switch strategy {
        case .binpack: (fraction(free.cpus, largest.cpus), fraction(free.memory, largest.memory))
        case .spread: (fraction(free.cpus, total.cpus), fraction(free.memory, total.memory))
        }
    }

    /// At least the score of any node whose coordinates lie in `low...high` and whose totals lie in `totals`
    /// (nil: none can take the instance).
    func bound(low: (Double, Double), high: (Double, Double), totals: (low: Resources, high: Resources)? = nil) -> Double? {
        switch strategy {
        case .binpack:
            let need = (fraction(demand.cpus, largest.cpus), fraction(demand.memory, largest.memory))
            if high.0 + 1e-9 < need.0 || high.1 + 1e-9 < need.1 { return nil }
            let c = max(low.0 - need.0, 0)
            let m = max(low.1 - need.1, 0)
            let fit = 1 - ((c * c + m * m) / Double(counted.count)).squareRoot()
            return fit * alignmentBound(low: low, high: high) + 1e-9
        case .spread:
            func used(_ r: Int, _ low: Double, _ high: Double) -> (Double, Double) {
                let biggest = totals.map { min($0.high[r], largest[r]) } ?? largest[r]
                let tiniest = totals.map { max($0.low[r], smallest[r]) } ?? smallest[r]
                let least = biggest > 0 ? demand[r] / biggest : 0
                let most = tiniest > 0 ? demand[r] / tiniest : 1
                return (max(1 - high + least, 0), min(1 - low + most, 1))
            }
            let c = used(0, low.0, high.0)
            let m = used(1, low.1, high.1)
            let mean = (c.0 + m.0) / Double(counted.count)
            let gap = counted.count == 2 ? max(c.0 - m.1, m.0 - c.1, 0) / 2 : 0
            return ((1 - mean) + (1 - gap)) / 2 + 1e-9
        }
    }

    private var largestCPUs: Double { largest.cpus > 0 ? largest.cpus : 1 }
    private var largestMemory: Double { largest.memory > 0 ? largest.memory : 1 }

    /// The cosine of the angle between the demand and the free CPUs and memory (each as a fraction of the pool's
    /// largest): 1 when the node's room has the instance's shape, or when the instance asks for only one of them
    /// (or neither): the shape of what it does not ask for is not its concern.
    func alignment(_ cpus: Double, _ memory: Double) -> Double {
        let dc = demand.cpus / largestCPUs
        let dm = demand.memory / largestMemory
        guard dc > 0, dm > 0 else { return 1 }
        let lengths = (dc * dc + dm * dm).squareRoot() * (cpus * cpus + memory * memory).squareRoot()
        return lengths > 0 ? min(max((dc * cpus + dm * memory) / lengths, 0), 1) : 1
    }

    /// The largest `alignment` of any point in the box: 1 when the demand's direction crosses it, else the cosine to
    /// the nearest edge of its angles.
    private func alignmentBound(low: (Double, Double), high: (Double, Double)) -> Double {
        let dc = demand.cpus / largestCPUs
        let dm = demand.memory / largestMemory
        guard dc > 0, dm > 0, high.0 > 0 || high.1 > 0 else { return 1 }
        let angle = atan2(dm, dc)
        let least = atan2(low.1, high.0)
        let most = atan2(high.1, low.0)
        if angle >= least && angle <= most { return 1 }
        return cos(angle < least ? least - angle : angle - most)
    }

    private func fraction(_ value: Double, _ of: Double) -> Double {
        of > 0 ? min(max(value / of, 0), 1) : 0
    }
}
