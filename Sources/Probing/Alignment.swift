import Kernels

/// Cross-lingual alignment of expert sets (Riemenschneider & Frank 2025, §3): how many of
/// language A's experts for a concept are also B's, and how well A's experts detect the concept
/// in B's sentences — each with the chance level it must be read against.
public enum Alignment {
    /// |E_A ∩ E_B| / K, overall and per layer (the per-layer values sum to the overall one).
    public static func overlap(_ a: [UnitID], _ b: [UnitID], k: Int) -> (overall: Double, perLayer: [Int: Double]) {
        let shared = Set(a).intersection(b)
        var perLayer: [Int: Double] = [:]
        for u in Set(a.map(\.layer)).union(b.map(\.layer)) { perLayer[u] = 0 }
        for u in shared { perLayer[u.layer, default: 0] += 1 / Double(k) }
        return (Double(shared.count) / Double(k), perLayer)
    }

    /// Expected overlap of two random expert sets with the same number of experts per layer as
    /// `a` and `b` (units drawn uniformly without replacement inside each layer): in layer l,
    /// E|A_l ∩ B_l| = a_l · b_l / N_l (hypergeometric mean), divided by K.
    public static func chanceOverlap(_ a: [UnitID], _ b: [UnitID], k: Int, layerSizes: [Int: Int])
        -> (overall: Double, perLayer: [Int: Double]) {
        var perLayer: [Int: Double] = [:]
        let countA = Dictionary(grouping: a, by: \.layer).mapValues(\.count)
        let countB = Dictionary(grouping: b, by: \.layer).mapValues(\.count)
        for (layer, size) in layerSizes {
            perLayer[layer] = Double(countA[layer] ?? 0) * Double(countB[layer] ?? 0) / Double(size) / Double(k)
        }
        return (perLayer.values.reduce(0, +), perLayer)
    }

    /// Mean AP, on language B's data, of the units chosen in language A.
    public static func crossAveragePrecision(experts: [UnitID], on target: Expertise) -> Double {
        let aps = experts.compactMap { target.index(of: $0).map { target.averagePrecision[$0] } }
        return aps.isEmpty ? 0 : aps.reduce(0, +) / Double(aps.count)
    }

    /// Label-permutation baseline of `crossAveragePrecision`: B's positive count kept, the
    /// positive sentences drawn at random (SplitMix64 from `seed`), averaged over `permutations`.
    public static func permutationBaseline(experts: [UnitID], pool: SentencePool, positives: Int,
                                           permutations: Int = 20, seed: UInt64) throws -> Double {
        var rng = SplitMix64(seed: seed)
        var total = 0.0
        // Only the layers that hold experts need ranking work.
        for _ in 0..<permutations {
            var indices = Array(0..<pool.sentences)
            for i in 0..<positives {
                let j = i + Int(rng.next() % UInt64(pool.sentences - i))
                indices.swapAt(i, j)
            }
            let chosen = Array(indices[..<positives])
            var sum = 0.0
            for (l, ranking) in pool.rankings.enumerated() {
                let wanted = experts.filter { $0.layer == pool.layers[l] }
                if wanted.isEmpty { continue }
                let ap = try ranking.averagePrecision(positives: chosen)
                for e in wanted where e.unit < ap.count { sum += ap[e.unit] }
            }
            total += sum / Double(max(1, experts.count))
        }
        return total / Double(permutations)
    }
}

