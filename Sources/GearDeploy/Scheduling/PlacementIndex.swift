/// Nodes grouped by their free and total resources, the groups in a grid of cells over a scorer's coordinates (see
/// `PlacementPool`). Each group lists its nodes in ascending order.
struct PlacementIndex: Sendable {
    struct Group: Hashable {
        var free: Resources
        var total: Resources
    }

    /// Cells per side of the grid.
    static let side = 32
    /// The scorer the coordinates come from (its demand is not used for them).
    let coordinates: PlacementScorer
    var cells: [[Group: [Int32]]]
    /// The smallest and largest total of each resource of any node that was in each cell (kept when nodes leave:
    /// a wider range only loosens the bound).
    var lowTotal: [Resources]
    var highTotal: [Resources]

    /// Where the grid starts and how wide a cell is, in each coordinate: the grid spans the nodes' coordinates when
    /// it was built (the first cell also takes anything below, the last anything above), so a pool that fills evenly
    /// still spreads over many cells. The pool builds it again as nodes move.
    var origin: (Double, Double) = (0, 0)
    var width: (Double, Double) = (1.0 / Double(side), 1.0 / Double(side))

    init(free: [Resources], total: [Resources], scorer: PlacementScorer) {
        coordinates = scorer
        var least = (1.0, 1.0)
        var most = (0.0, 0.0)
        for n in free.indices {
            let (x, y) = scorer.coordinates(free: free[n], total: total[n])
            least = (min(least.0, x), min(least.1, y))
            most = (max(most.0, x), max(most.1, y))
        }
        if least.0 <= most.0 {
            origin = least
            width = (max(most.0 - least.0, 1e-6) / Double(Self.side), max(most.1 - least.1, 1e-6) / Double(Self.side))
        }
        cells = Array(repeating: [:], count: Self.side * Self.side)
        let infinite = Resources(cpus: .infinity, memory: .infinity, disk: .infinity, ports: .infinity)
        lowTotal = Array(repeating: infinite, count: Self.side * Self.side)
        highTotal = Array(repeating: .zero, count: Self.side * Self.side)
        for n in free.indices {
            let c = cell(free: free[n], total: total[n])
            cells[c][Group(free: free[n], total: total[n]), default: []].append(Int32(n))
            lowTotal[c] = lowTotal[c].minimum(total[n])
            highTotal[c] = highTotal[c].maximum(total[n])
        }
    }

    func cell(free: Resources, total: Resources) -> Int {
        let (x, y) = coordinates.coordinates(free: free, total: total)
        let side = Self.side
        func step(_ value: Double, _ origin: Double, _ width: Double) -> Int {
            value <= origin ? 0 : min(Int((value - origin) / width), side - 1)
        }
        return step(x, origin.0, width.0) * side + step(y, origin.1, width.1)
    }

    /// The coordinates cell `c` covers.
    func box(_ c: Int) -> (low: (Double, Double), high: (Double, Double)) {
        let side = Self.side
        func span(_ i: Int, _ origin: Double, _ width: Double) -> (Double, Double) {
            (i == 0 ? 0 : origin + Double(i) * width, i == side - 1 ? 1 : origin + Double(i + 1) * width)
        }
        let x = span(c / side, origin.0, width.0)
        let y = span(c % side, origin.1, width.1)
        return ((x.0, y.0), (x.1, y.1))
    }

    mutating func remove(_ n: Int, free: Resources, total: Resources) {
        let c = cell(free: free, total: total)
        let group = Group(free: free, total: total)
        guard var nodes = cells[c][group] else { return }
        let position = nodes.lowerBound(Int32(n))
        guard position < nodes.count, nodes[position] == Int32(n) else { return }
        nodes.remove(at: position)
        cells[c][group] = nodes.isEmpty ? nil : nodes
    }

    mutating func insert(_ n: Int, free: Resources, total: Resources) {
        let c = cell(free: free, total: total)
        let group = Group(free: free, total: total)
        var nodes = cells[c].removeValue(forKey: group) ?? []
        nodes.insert(Int32(n), at: nodes.lowerBound(Int32(n)))
        cells[c][group] = nodes
        lowTotal[c] = lowTotal[c].minimum(total)
        highTotal[c] = highTotal[c].maximum(total)
    }

    /// The best unmarked node that beats `best`, or `best`.
    func best(_ scorer: PlacementScorer, beating best: Choice, skipping marked: Set<Int>, allows: (Int) -> Bool) -> Choice {
        var best = best
        var bounds: [(bound: Double, cell: Int)] = []
        for c in cells.indices where !cells[c].isEmpty {
            let (low, high) = box(c)
            guard let bound = scorer.bound(low: low, high: high, totals: (lowTotal[c], highTotal[c])),
                bound >= best.score
            else { continue }
            bounds.append((bound, c))
        }
        // Best bound first: a max-heap, built in place (a few cells are opened; sorting them all cost more).
        var heap = BoundHeap(bounds)
        while let (bound, c) = heap.pop() {
            if best.node != nil, bound < best.score { break }
            for group in cells[c].keys {
                guard let score = scorer.score(free: group.free, total: group.total), score >= best.score else { continue }
                for node in cells[c][group]! {
                    let n = Int(node)
                    if marked.contains(n) || !allows(n) { continue }
                    best.offer(score: score, rank: 0, node: n)
                    break
                }
            }
        }
        return best
    }
}

/// A max-heap of cells by bound.
struct BoundHeap {
    var items: [(bound: Double, cell: Int)]

    init(_ items: [(bound: Double, cell: Int)]) {
        self.items = items
        for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { sink(i) }
    }

    mutating func pop() -> (Double, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            sink(0)
        }
        return top
    }

    private mutating func sink(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            let right = left + 1
            var largest = i
            if left < items.count, items[left].bound > items[largest].bound { largest = left }
            if right < items.count, items[right].bound > items[largest].bound { largest = right }
            if largest == i { return }
            items.swapAt(i, largest)
            i = largest
        }
    }
}

extension Array where Element == Int32 {
    /// The first position whose element is not less than `value` (the array ascending).
    fileprivate func lowerBound(_ value: Int32) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if self[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
