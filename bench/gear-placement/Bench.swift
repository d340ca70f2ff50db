// The placement-quality and placement-speed benchmark (issue 34): a pool drawn from Google's 2011 machine mix, a
// stream of instance demands, placed until the first instance fits nowhere by gear's scorers and by the anchors'
// documented scoring, side by side; then the rate of placements at 10,000 nodes. Deterministic from --seed.
// docs/scheduling.md describes the distributions; docs/performance.md records a run.
import ArgumentParser
import Foundation
import GearDeploy

@main
struct GearPlacementBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gear-placement", abstract: "Placement quality against Kubernetes' and Nomad's scoring, and placement speed.")

    @Option(help: "Nodes in the quality runs.") var nodes = 1000
    @Option(help: "Nodes in the speed run.") var speedNodes = 10000
    @Option(help: "Placements timed in the speed run.") var speedPlacements = 50000
    @Option(help: "The seed of every random choice.") var seed: UInt64 = 2011
    @Flag(help: "Check that the index chooses what a full scan chooses, placement by placement.") var verify = false
    @Flag(inversion: .prefixedNo, help: "Run the quality table.") var quality = true
    @Flag(inversion: .prefixedNo, help: "Time gear's full scan beside its index.") var fullScan = true
    @Option(help: "Only the scorers whose name contains this (all when absent).") var only: String?

    var scorers: [Scorer] { Scorer.all.filter { only == nil || $0.name.contains(only!) } }

    func run() throws {
        print("# gear placement benchmark: seed \(seed), \(nodes) nodes per quality run, \(speedNodes) in the speed run")
        print("")
        if quality { table() }
        speed()
        if verify { try check() }
    }

    /// Each mix placed by each scorer until the first instance fits nowhere.
    func table() {
        print("| mix | scorer | placed | of bound | CPU allocated | memory allocated | empty nodes | instances beside their container's |")
        print("|---|---|---|---|---|---|---|---|")
        for mix in Mix.all {
            var random = SplitMix(seed: seed)
            let pool = Machines.pool(nodes, &random)
            let stream = Stream(mix, &random, upTo: pool)
            let bound = stream.bound(pool)
            for scorer in scorers {
                var run = Run(pool: pool, stream: stream, scorer: scorer)
                let result = run.untilFull()
                let share = Double(result.placed) / Double(bound) * 100
                print(
                    "| \(mix.name) | \(scorer.name) | \(result.placed) | \(format(share))% | \(format(result.cpu * 100))% | \(format(result.memory * 100))% | \(result.empty) | \(result.beside) |"
                )
            }
            print("| \(mix.name) | fractional bound | \(bound) | 100% | | | | |")
        }
        print("")
    }

    /// Placements per second at `speedNodes` nodes, on one core, for each scorer; gear's with its index and with a
    /// full scan.
    func speed() {
        var random = SplitMix(seed: seed)
        let pool = Machines.pool(speedNodes, &random)
        let stream = Stream(Mix.all[3], &random, upTo: pool, atMost: speedPlacements)
        print("| \(speedNodes) nodes, mixed stream | placements | seconds | placements/s | placed as the full scan |")
        print("|---|---|---|---|---|")
        for scorer in scorers {
            let full = scorer.gear != nil && fullScan ? Run(pool: pool, stream: stream, scorer: scorer, fullScan: true) : nil
            var run = Run(pool: pool, stream: stream, scorer: scorer)
            let start = ContinuousClock.now
            let placed = run.place(limit: speedPlacements)
            let seconds = (ContinuousClock.now - start).seconds
            var same = ""
            if var full {
                let fullStart = ContinuousClock.now
                let fullPlaced = full.place(limit: speedPlacements)
                let fullSeconds = (ContinuousClock.now - fullStart).seconds
                same = full.choices == run.choices ? "yes" : "NO"
                print(
                    "| \(scorer.name), full scan | \(fullPlaced) | \(format(fullSeconds, 3)) | \(Int(Double(fullPlaced) / fullSeconds)) | |")
            }
            print("| \(scorer.name) | \(placed) | \(format(seconds, 3)) | \(Int(Double(placed) / seconds)) | \(same) |")
        }
    }

    /// Random pools and streams: the index's choice is the full scan's, every time.
    func check() throws {
        var random = SplitMix(seed: seed &+ 1)
        for round in 0..<40 {
            let pool = Machines.pool(64 + Int(random.next() % 400), &random)
            let stream = Stream(Mix.all[Int(random.next() % UInt64(Mix.all.count))], &random, upTo: pool)
            for scorer in Scorer.all where scorer.gear != nil {
                var indexed = Run(pool: pool, stream: stream, scorer: scorer)
                var full = Run(pool: pool, stream: stream, scorer: scorer, fullScan: true)
                _ = indexed.place(limit: .max)
                _ = full.place(limit: .max)
                guard indexed.choices == full.choices else {
                    throw ValidationError("round \(round), \(scorer.name): the index chose differently from the full scan")
                }
            }
        }
        print("verified: 40 random pools, the index chose as the full scan for every placement")
    }
}

func format(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// SplitMix64: a small, seeded generator, the same numbers on every machine.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in 0..<1.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
