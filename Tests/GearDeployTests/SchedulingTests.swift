import GearAPI
import Testing

@testable import GearDeploy

/// A seeded generator (xorshift64*): the same pools on every run.
struct Seeded: RandomNumberGenerator {
    var state: UInt64
    init(state: UInt64) { self.state = state | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

@Suite struct PlacementScorerTests {
    let largest = Resources(cpus: 8, memory: 16, disk: 100, ports: 100)
    let smallest = Resources(cpus: 2, memory: 4, disk: 100, ports: 100)

    @Test func nothingScoresWhereTheInstanceDoesNotFit() {
        for strategy in [PlacementStrategy.binpack, .spread] {
            let scorer = PlacementScorer(
                strategy: strategy, demand: Resources(cpus: 2, memory: 4, disk: 1, ports: 1), largest: largest, smallest: smallest)
            let total = Resources(cpus: 8, memory: 16, disk: 100, ports: 100)
            #expect(scorer.score(free: Resources(cpus: 1.5, memory: 16, disk: 100, ports: 100), total: total) == nil)
            #expect(scorer.score(free: Resources(cpus: 8, memory: 3, disk: 100, ports: 100), total: total) == nil)
            #expect(scorer.score(free: Resources(cpus: 8, memory: 16, disk: 0, ports: 100), total: total) == nil)
            #expect(scorer.score(free: Resources(cpus: 8, memory: 16, disk: 100, ports: 0), total: total) == nil)
            #expect(scorer.score(free: Resources(cpus: 2, memory: 4, disk: 1, ports: 1), total: total) != nil)
        }
    }

    @Test func binpackScoresAnExactFitOneAndLessTheMoreIsLeftOnAnyResource() throws {
        let scorer = PlacementScorer(strategy: .binpack, demand: Resources(cpus: 2, memory: 4), largest: largest, smallest: smallest)
        let total = Resources(cpus: 8, memory: 16)
        #expect(abs(try #require(scorer.score(free: Resources(cpus: 2, memory: 4), total: total)) - 1) < 1e-12)
        let cpuLeft = try #require(scorer.score(free: Resources(cpus: 6, memory: 4), total: total))
        let memoryLeft = try #require(scorer.score(free: Resources(cpus: 2, memory: 12), total: total))
        let bothLeft = try #require(scorer.score(free: Resources(cpus: 6, memory: 12), total: total))
        #expect(cpuLeft < 1 && memoryLeft < 1)
        // Half of the largest left of either resource weighs the same.
        #expect(abs(cpuLeft - memoryLeft) < 1e-12)
        #expect(bothLeft < cpuLeft)
    }

    @Test func spreadPrefersTheEmptierAndTheBalancedNode() throws {
        let scorer = PlacementScorer(strategy: .spread, demand: Resources(cpus: 1, memory: 2), largest: largest, smallest: smallest)
        let total = Resources(cpus: 8, memory: 16)
        let empty = try #require(scorer.score(free: total, total: total))
        let half = try #require(scorer.score(free: Resources(cpus: 4, memory: 8), total: total))
        #expect(empty > half)
        // The same mean use, but one node's CPUs are nearly gone while its memory idles.
        let balanced = try #require(scorer.score(free: Resources(cpus: 4, memory: 8), total: total))
        let lopsided = try #require(scorer.score(free: Resources(cpus: 1, memory: 14), total: total))
        #expect(balanced > lopsided)
    }

    @Test func antiAffinityIsNomadsPenalty() {
        #expect(PlacementScorer.antiAffinity(0.8, collisions: 0, count: 3) == 0.8)
        #expect(abs(PlacementScorer.antiAffinity(0.8, collisions: 1, count: 4) - 0.15) < 1e-12)
    }

    /// Every cell's bound is at least the score of every node in it, for random nodes and demands.
    @Test(arguments: [PlacementStrategy.binpack, .spread])
    func boundsHoldEveryScoreInTheirCell(_ strategy: PlacementStrategy) {
        var random = Seeded(state: 7)
        for _ in 0..<5000 {
            let total = Resources(
                cpus: Double(Int.random(in: 2...8, using: &random)), memory: Double(Int.random(in: 4...16, using: &random)), disk: 100,
                ports: 100)
            let free = Resources(
                cpus: Double.random(in: 0...total.cpus, using: &random), memory: Double.random(in: 0...total.memory, using: &random),
                disk: Double.random(in: 0...100, using: &random), ports: 100)
            let demand = Resources(
                cpus: Double.random(in: 0...2, using: &random), memory: Double.random(in: 0...4, using: &random),
                disk: Bool.random(using: &random) ? 1 : 0)
            let scorer = PlacementScorer(strategy: strategy, demand: demand, largest: largest, smallest: smallest)
            guard let score = scorer.score(free: free, total: total) else { continue }
            let (x, y) = scorer.coordinates(free: free, total: total)
            let side = Double(PlacementIndex.side)
            let low = ((min(x * side, side - 1)).rounded(.down) / side, (min(y * side, side - 1)).rounded(.down) / side)
            let bound = scorer.bound(low: low, high: (low.0 + 1 / side, low.1 + 1 / side))
            #expect(bound != nil && bound! >= score, "\(free) of \(total) for \(demand): \(score) > \(String(describing: bound))")
        }
    }
}

@Suite struct PlacementPoolTests {
    /// A random pool of machines of a few shapes, some partly used.
    static func pool(_ count: Int, _ random: inout Seeded) -> PlacementPool {
        let shapes = [
            Resources(cpus: 32, memory: 128, disk: 1000, ports: 1000), Resources(cpus: 32, memory: 64, disk: 1000, ports: 1000),
            Resources(cpus: 64, memory: 256, disk: 500, ports: 1000), Resources(cpus: 16, memory: 64, disk: 1000, ports: 100),
        ]
        let total = (0..<count).map { _ in shapes.randomElement(using: &random)! }
        let free = total.map { t in
            Bool.random(using: &random)
                ? t
                : Resources(
                    cpus: (t.cpus * Double.random(in: 0...1, using: &random)).rounded(),
                    memory: (t.memory * Double.random(in: 0...1, using: &random)).rounded(), disk: t.disk, ports: t.ports)
        }
        return PlacementPool(total: total, free: free)
    }

    /// The index chooses what scoring every node chooses, placement after placement, with penalties, ranks and
    /// rules; and never a node the instance does not fit.
    @Test(arguments: [PlacementStrategy.binpack, .spread])
    func theIndexChoosesWhatTheFullScanChooses(_ strategy: PlacementStrategy) {
        var random = Seeded(state: strategy == .binpack ? 1 : 2)
        for _ in 0..<8 {
            var pool = Self.pool(Int.random(in: PlacementPool.indexedFrom...600, using: &random), &random)
            var placed: [Int: Int] = [:]
            let refused = Set((0..<pool.count).filter { _ in Int.random(in: 0..<10, using: &random) == 0 })
            for _ in 0..<400 {
                let demand = Resources(
                    cpus: Double(Int.random(in: 0...8, using: &random)) / 2, memory: Double(Int.random(in: 0...16, using: &random)),
                    disk: Bool.random(using: &random) ? 10 : 0, ports: Double(Int.random(in: 0...1, using: &random)))
                let scorer = pool.scorer(strategy, demand: demand)
                let marked = Set(placed.keys)
                let rank = { (n: Int) in strategy == .spread ? placed[n] ?? 0 : -(placed[n] ?? 0) }
                let adjust = { (n: Int, score: Double) in PlacementScorer.antiAffinity(score, collisions: placed[n] ?? 0, count: 5) }
                let allows = { (n: Int) in !refused.contains(n) }
                let full = pool.fullScan(scorer, marked: marked, rank: rank, adjust: adjust, allows: allows)
                let chosen = pool.choose(scorer, marked: marked, rank: rank, adjust: adjust, allows: allows)
                #expect(chosen == full)
                guard let chosen else { break }
                #expect(pool.free[chosen].holds(demand) && !refused.contains(chosen))
                pool.take(demand, from: chosen)
                placed[chosen, default: 0] += 1
                if placed.count > 20 { placed = [:] }
            }
        }
    }

    @Test func theSameInputGivesTheSameChoices() {
        func run() -> [Int] {
            var random = Seeded(state: 42)
            var pool = Self.pool(300, &random)
            var choices: [Int] = []
            for i in 0..<200 {
                let scorer = pool.scorer(i % 2 == 0 ? .binpack : .spread, demand: Resources(cpus: 1, memory: Double(1 + i % 7)))
                guard let n = pool.choose(scorer, marked: [], rank: { _ in 0 }, adjust: { $1 }, allows: { _ in true }) else { break }
                pool.take(scorer.demand, from: n)
                choices.append(n)
            }
            return choices
        }
        #expect(run() == run())
    }
}
