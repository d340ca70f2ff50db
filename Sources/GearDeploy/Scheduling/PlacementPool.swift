/// The nodes' resources while instances are placed, and the choice of a node for each: the highest score, then a
/// tie-break rank, then the lowest index, so the same input always gives the same choice.
///
/// Below `indexedFrom` nodes, and for the first `scansBeforeIndex` choices of a pool (building an index costs a few
/// scans: a plan that places a handful of instances scans), every choice scores every node. From there an index
/// answers the same question without scanning the pool: nodes with the same free and total resources score the
/// same, so they are kept together in a group (lowest index first), and groups in a grid of cells over the scorer's
/// coordinates; each cell gives an upper bound of its groups' scores, and cells are opened best bound first until
/// no unopened cell can beat the best node found (branch and bound: the answer is the full scan's, exactly).
public struct PlacementPool: Sendable {
    public private(set) var total: [Resources]
    public private(set) var free: [Resources]
    /// The largest and smallest capacity of each resource over the pool.
    public let largest: Resources
    public let smallest: Resources
    /// One index per strategy, built on first use.
    var indexes: [PlacementStrategy: PlacementIndex] = [:]
    /// Takes since the indexes were built: they are built again (over the nodes' new span) after `count / 8`.
    var takes = 0
    /// Choices made by scanning so far.
    var scans = 0

    /// Pools of this many nodes and more use an index...
    public static let indexedFrom = 64
    /// ...after this many choices by scanning.
    public static let scansBeforeIndex = 8

    public init(total: [Resources], free: [Resources]) {
        precondition(total.count == free.count)
        self.total = total
        self.free = free
        largest = total.reduce(Resources.zero) { $0.maximum($1) }
        smallest = total.first.map { first in total.reduce(first) { $0.minimum($1) } } ?? .zero
    }

    public var count: Int { total.count }

    /// A scorer for `demand` over this pool.
    public func scorer(_ strategy: PlacementStrategy, demand: Resources) -> PlacementScorer {
        PlacementScorer(strategy: strategy, demand: demand, largest: largest, smallest: smallest)
    }

    /// Takes `demand` from node `n`.
    public mutating func take(_ demand: Resources, from n: Int) {
        takes += 1
        if takes >= max(count / 8, 256) {
            indexes = [:]
            takes = 0
        }
        for key in indexes.keys { indexes[key]!.remove(n, free: free[n], total: total[n]) }
        free[n] = free[n] - demand
        for key in indexes.keys { indexes[key]!.insert(n, free: free[n], total: total[n]) }
    }

    /// The best node for `scorer`, or nil when none passes.
    /// - Parameters:
    ///   - marked: the nodes that may have a nonzero `rank` or an `adjust`ed score (those running instances of the
    ///     same deployment); every other node has rank 0 and its plain score.
    ///   - rank: the tie-break between equal scores, lower first.
    ///   - adjust: a marked node's score after penalties.
    ///   - allows: whether the node passes every rule other than resources.
    public mutating func choose(
        _ scorer: PlacementScorer, marked: Set<Int>, rank: (Int) -> Int, adjust: (Int, Double) -> Double, allows: (Int) -> Bool
    ) -> Int? {
        if count < Self.indexedFrom || (indexes[scorer.strategy] == nil && scans < Self.scansBeforeIndex) {
            scans += 1
            return fullScan(scorer, marked: marked, rank: rank, adjust: adjust, allows: allows)
        }
        if indexes[scorer.strategy] == nil {
            indexes[scorer.strategy] = PlacementIndex(free: free, total: total, scorer: scorer)
        }
        var best = Choice()
        for n in marked where allows(n) {
            guard let score = scorer.score(free: free[n], total: total[n]) else { continue }
            best.offer(score: adjust(n, score), rank: rank(n), node: n)
        }
        return indexes[scorer.strategy]!.best(scorer, beating: best, skipping: marked, allows: allows).node
    }

    /// `choose` by scoring every node: the reference the index must agree with.
    public func fullScan(
        _ scorer: PlacementScorer, marked: Set<Int>, rank: (Int) -> Int, adjust: (Int, Double) -> Double, allows: (Int) -> Bool
    ) -> Int? {
        var best = Choice()
        for n in 0..<count where allows(n) {
            guard let score = scorer.score(free: free[n], total: total[n]) else { continue }
            if marked.contains(n) {
                best.offer(score: adjust(n, score), rank: rank(n), node: n)
            } else {
                best.offer(score: score, rank: 0, node: n)
            }
        }
        return best.node
    }
}

/// The best node so far: highest score, then lowest rank, then lowest index.
struct Choice {
    var score = -Double.infinity
    var rank = 0
    var node: Int? = nil

    mutating func offer(score: Double, rank: Int, node: Int) {
        guard let current = self.node else {
            (self.score, self.rank, self.node) = (score, rank, node)
            return
        }
        if score > self.score || (score == self.score && (rank < self.rank || (rank == self.rank && node < current))) {
            (self.score, self.rank, self.node) = (score, rank, node)
        }
    }
}
