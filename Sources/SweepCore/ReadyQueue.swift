/// The ready tasks of one checkpoint, best rank first, as a binary min-heap of plan positions with
/// lazy removal: taking the best is O(log n), queueing is O(log n), and removing a task from the
/// middle only marks it (its heap entry is skipped when it surfaces). A 100,000-task plan is served
/// at a constant cost per lease instead of a scan of the list.
struct ReadyQueue: Sendable {
    private(set) var heap: [Int] = []
    /// Tasks queued now (a position may also sit in `heap` as a stale entry after `remove`).
    private(set) var members: Set<Int> = []

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }

    mutating func insert(_ i: Int, rank: [Int]) {
        guard members.insert(i).inserted else { return }
        heap.append(i)
        var c = heap.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard rank[heap[c]] < rank[heap[p]] else { break }
            heap.swapAt(c, p)
            c = p
        }
    }

    mutating func remove(_ i: Int) { members.remove(i) }

    /// The best-ranked member that `accept` takes, removed from the queue; nil when none does.
    /// Members it declines stay queued.
    mutating func take(rank: [Int], where accept: (Int) -> Bool) -> Int? {
        var declined: [Int] = []
        defer { for d in declined { heap.append(d); siftUp(heap.count - 1, rank: rank) } }
        while let top = heap.first {
            pop(rank: rank)
            guard members.contains(top) else { continue }   // removed earlier, or a duplicate entry
            if accept(top) {
                members.remove(top)
                return top
            }
            declined.append(top)
        }
        return nil
    }

    /// The best-ranked member without removing it (stale entries on top are dropped).
    mutating func peek(rank: [Int]) -> Int? {
        while let top = heap.first, !members.contains(top) { pop(rank: rank) }
        return heap.first
    }

    private mutating func pop(rank: [Int]) {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            var best = p
            if l < heap.count && rank[heap[l]] < rank[heap[best]] { best = l }
            if r < heap.count && rank[heap[r]] < rank[heap[best]] { best = r }
            if best == p { break }
            heap.swapAt(p, best)
            p = best
        }
    }

    private mutating func siftUp(_ start: Int, rank: [Int]) {
        var c = start
        while c > 0 {
            let p = (c - 1) / 2
            guard rank[heap[c]] < rank[heap[p]] else { break }
            heap.swapAt(c, p)
            c = p
        }
    }
}
