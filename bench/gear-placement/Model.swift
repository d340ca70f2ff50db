import Foundation
import GearDeploy

/// Google's 2011 cluster trace: machines' (CPU, memory) as fractions of the largest, and their shares, scaled to a
/// largest machine of 64 CPUs and 256 GiB; every machine has 1 TiB of disk and 1,000 ports.
enum Machines {
    static let mix: [(cpus: Double, memory: Double, share: Double)] = [
        (0.5, 0.5, 53.5), (0.5, 0.25, 30.7), (0.5, 0.75, 8.0), (1, 1, 6.3), (0.25, 0.25, 1.0), (0.5, 0.12, 0.4),
    ]
    static let largest = Resources(cpus: 64, memory: 256 * gib, disk: 1024 * gib, ports: 1000)

    static func pool(_ count: Int, _ random: inout SplitMix) -> PlacementPool {
        let sum = mix.reduce(0) { $0 + $1.share }
        let total = (0..<count).map { _ in
            var pick = random.unit() * sum
            for machine in mix {
                pick -= machine.share
                if pick < 0 || machine.share == mix.last!.share {
                    return Resources(
                        cpus: largest.cpus * machine.cpus, memory: largest.memory * machine.memory, disk: largest.disk, ports: largest.ports)
                }
            }
            fatalError()
        }
        return PlacementPool(total: total, free: total)
    }
}

let gib = Double(1 << 30)

/// A mix of instance shapes. A unit is 0.5 CPU and 2 GiB (4 GiB per CPU, about the pool's own ratio); an
/// instance takes 1, 2, 4 or 8 units (40%, 30%, 20%, 10%): balanced as is, CPU-heavy at twice the CPUs and half the
/// memory, memory-heavy at half the CPUs and twice the memory; each amount then jittered by ±25% (CPUs to 0.05,
/// memory to 64 MiB). Instances come in containers of 1 to 8 (uniform) with the same demand.
struct Mix {
    var name: String
    /// Shares of balanced, CPU-heavy and memory-heavy containers.
    var shares: (Double, Double, Double)

    static let all = [
        Mix(name: "balanced", shares: (1, 0, 0)), Mix(name: "CPU-heavy", shares: (0, 1, 0)), Mix(name: "memory-heavy", shares: (0, 0, 1)),
        Mix(name: "mixed", shares: (1, 1, 1)), Mix(name: "CPU- and memory-heavy", shares: (0, 1, 1)),
    ]
}

/// The instances to place, in order: each with its demand and its container.
struct Stream {
    var demands: [Resources] = []
    var containers: [Int] = []
    var counts: [Int] = []

    init(_ mix: Mix, _ random: inout SplitMix, upTo pool: PlacementPool, atMost: Int = .max) {
        let capacity = pool.total.reduce(Resources.zero, +)
        var sum = Resources.zero
        let sizes: [(Double, Double)] = [(1, 0.4), (2, 0.3), (4, 0.2), (8, 0.1)]
        let (b, c, m) = mix.shares
        var container = 0
        while (sum.cpus < capacity.cpus * 1.2 && sum.memory < capacity.memory * 1.2) && demands.count < atMost {
            var pick = random.unit()
            var units = 8.0
            for (size, share) in sizes {
                pick -= share
                if pick < 0 {
                    units = size
                    break
                }
            }
            let shape = random.unit() * (b + c + m)
            let (cpuFactor, memoryFactor) = shape < b ? (1.0, 1.0) : shape < b + c ? (2.0, 0.5) : (0.5, 2.0)
            let cpus = max(((units * 0.5 * cpuFactor * (0.75 + random.unit() * 0.5)) * 20).rounded() / 20, 0.05)
            let memory = max((units * 2 * memoryFactor * (0.75 + random.unit() * 0.5) * 16).rounded() / 16, 1.0 / 16) * gib
            let demand = Resources(cpus: cpus, memory: memory)
            let count = 1 + Int(random.next() % 8)
            for _ in 0..<count where demands.count < atMost {
                demands.append(demand)
                containers.append(container)
                sum = sum + demand
            }
            counts.append(count)
            container += 1
        }
    }

    /// The fractional bound: the most instances of the stream, in order, whose sum fits the pool's total capacity.
    func bound(_ pool: PlacementPool) -> Int {
        let capacity = pool.total.reduce(Resources.zero, +)
        var sum = Resources.zero
        for (i, demand) in demands.enumerated() {
            sum = sum + demand
            if !capacity.holds(sum) { return i }
        }
        return demands.count
    }
}

/// A way to choose a node: gear's (through `PlacementPool.choose`) or an anchor's documented scoring.
struct Scorer: Sendable {
    var name: String
    var gear: PlacementStrategy?
    /// An anchor's score of a node (higher is better), nil when the instance does not fit.
    var score: @Sendable (_ free: Resources, _ total: Resources, _ demand: Resources, _ collisions: Int, _ count: Int) -> Double? = { _, _, _, _, _ in
        nil
    }

    static let all = [
        Scorer(name: "gear binpack", gear: .binpack),
        Scorer(name: "gear spread", gear: .spread),
        // NodeResourcesFit (LeastAllocated) + NodeResourcesBalancedAllocation, CPU and memory, equal weights.
        Scorer(name: "Kubernetes default", gear: nil) { free, total, demand, _, _ in
            guard free.holds(demand) else { return nil }
            let cpu = (total.cpus - free.cpus + demand.cpus) / total.cpus
            let memory = (total.memory - free.memory + demand.memory) / total.memory
            let least = ((1 - cpu) + (1 - memory)) / 2 * 100
            let balanced = (1 - abs(cpu - memory) / 2) * 100
            return least + balanced
        },
        // Nomad's BestFit v3 binpack, with its job anti-affinity as Nomad applies it by default.
        Scorer(name: "Nomad binpack", gear: nil) { free, total, demand, collisions, count in
            guard free.holds(demand) else { return nil }
            let cpu = (free.cpus - demand.cpus) / total.cpus
            let memory = (free.memory - demand.memory) / total.memory
            let fit = min(max(20 - (pow10(cpu) + pow10(memory)), 0), 18) / 18
            return PlacementScorer.antiAffinity(fit, collisions: collisions, count: count)
        },
        // gear before issue 34: binpack by the least memory left; spread by fewest instances, then most memory left.
        Scorer(name: "gear before: binpack", gear: nil) { free, total, demand, collisions, _ in
            guard free.holds(demand) else { return nil }
            return -(free.memory - demand.memory) / total.memory + Double(collisions) * 1e-9
        },
        Scorer(name: "gear before: spread", gear: nil) { free, total, demand, collisions, _ in
            guard free.holds(demand) else { return nil }
            return -Double(collisions) * 10 + (free.memory - demand.memory) / total.memory
        },
    ]
}

func pow10(_ x: Double) -> Double { exp(x * 2.302585092994046) }

/// One placement run: a pool, a stream and a scorer.
struct Run {
    var pool: PlacementPool
    let stream: Stream
    let scorer: Scorer
    var fullScan = false
    /// The node chosen for each instance placed.
    var choices: [Int] = []
    /// The nodes of the current container, with its instances on each.
    var current: [Int: Int] = [:]
    var beside = 0

    init(pool: PlacementPool, stream: Stream, scorer: Scorer, fullScan: Bool = false) {
        self.pool = pool
        self.stream = stream
        self.scorer = scorer
        self.fullScan = fullScan
    }

    /// Places instances until one fits nowhere or `limit` are placed.
    mutating func place(limit: Int) -> Int {
        while choices.count < min(limit, stream.demands.count) {
            let i = choices.count
            if i > 0, stream.containers[i] != stream.containers[i - 1] { current = [:] }
            let demand = stream.demands[i]
            let count = stream.counts[stream.containers[i]]
            guard let n = choose(demand, count: count) else { break }
            pool.take(demand, from: n)
            if current[n, default: 0] > 0 { beside += 1 }
            current[n, default: 0] += 1
            choices.append(n)
        }
        return choices.count
    }

    mutating func choose(_ demand: Resources, count: Int) -> Int? {
        let here = current
        if let strategy = scorer.gear {
            let gear = pool.scorer(strategy, demand: demand)
            let adjust = { (n: Int, score: Double) in PlacementScorer.antiAffinity(score, collisions: here[n] ?? 0, count: count) }
            if fullScan {
                return pool.fullScan(gear, marked: Set(here.keys), rank: { _ in 0 }, adjust: adjust, allows: { _ in true })
            }
            return pool.choose(gear, marked: Set(here.keys), rank: { _ in 0 }, adjust: adjust, allows: { _ in true })
        }
        var best: (score: Double, node: Int)? = nil
        for n in 0..<pool.count {
            guard let score = scorer.score(pool.free[n], pool.total[n], demand, here[n] ?? 0, count) else { continue }
            if best == nil || score > best!.score { best = (score, n) }
        }
        return best?.node
    }

    struct Result {
        var placed: Int
        var cpu: Double
        var memory: Double
        var empty: Int
        var beside: Int
    }

    mutating func untilFull() -> Result {
        let placed = place(limit: .max)
        let total = pool.total.reduce(Resources.zero, +)
        let free = pool.free.reduce(Resources.zero, +)
        let empty = pool.free.indices.filter { pool.free[$0] == pool.total[$0] }.count
        return Result(
            placed: placed, cpu: 1 - free.cpus / total.cpus, memory: 1 - free.memory / total.memory, empty: empty, beside: beside)
    }
}
