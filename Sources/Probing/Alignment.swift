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

    /// AP of every unit (concatenated over the pool's layers) for `permutations` random positive
    /// sets of size `positives` (SplitMix64 from `seed`): the null distribution that cross-language
    /// AP is read against. One draw serves the experts of every source language.
    public static func permutedAveragePrecision(pool: SentencePool, positives: Int, permutations: Int = 20,
                                                seed: UInt64) throws -> [[Double]] {
        try permutedAveragePrecision(rankings: pool.rankings, sentences: pool.sentences, positives: positives,
                                     permutations: permutations, seed: seed)
    }

    /// The same draws for only the units of `subset` (one value per subset unit, in its order):
    /// a unit's AP depends on its own ranking alone, so each value is bit-identical to the
    /// whole pool's for that unit, at the cost of the units the baseline reads.
    public static func permutedAveragePrecision(subset: UnitSubset, positives: Int, permutations: Int = 20,
                                                seed: UInt64) throws -> [[Double]] {
        try permutedAveragePrecision(rankings: [subset.ranking], sentences: subset.sentences, positives: positives,
                                     permutations: permutations, seed: seed)
    }

    static func permutedAveragePrecision(rankings: [UnitRanking], sentences: Int, positives: Int, permutations: Int,
                                         seed: UInt64) throws -> [[Double]] {
        var rng = SplitMix64(seed: seed)
        var out: [[Double]] = []
        for _ in 0..<permutations {
            var indices = Array(0..<sentences)
            for i in 0..<positives {
                let j = i + Int(rng.next() % UInt64(sentences - i))
                indices.swapAt(i, j)
            }
            let chosen = Array(indices[..<positives])
            out.append(try rankings.flatMap { try $0.averagePrecision(positives: chosen) })
        }
        return out
    }

    /// Label-permutation baseline of `crossAveragePrecision`: B's positive count kept, the
    /// positive sentences drawn at random, the experts' mean AP averaged over the draws.
    public static func permutationBaseline(experts: [UnitID], pool: SentencePool, positives: Int,
                                           permutations: Int = 20, seed: UInt64) throws -> Double {
        let draws = try permutedAveragePrecision(pool: pool, positives: positives, permutations: permutations, seed: seed)
        return permutationBaseline(experts: experts, draws: draws, layerSizes: pool.layerSizes, layers: pool.layers)
    }

    /// The baseline from precomputed draws (`permutedAveragePrecision`).
    public static func permutationBaseline(experts: [UnitID], draws: [[Double]], layerSizes: [Int], layers: [Int]) -> Double {
        let units = UnitIndex(layers: layers, layerSizes: layerSizes)
        return permutationBaseline(indices: experts.compactMap(units.flat), draws: draws)
    }

    /// The baseline from draws over a subset (`permutedAveragePrecision(subset:)`); every expert
    /// must be one of the subset's units.
    public static func permutationBaseline(experts: [UnitID], draws: [[Double]], subset: UnitSubset) -> Double {
        permutationBaseline(indices: experts.map { id in
            guard let column = subset.units.flat(id).flatMap({ subset.column[$0] }) else {
                preconditionFailure("expert \(id) is not in the subset the draws were made for")
            }
            return column
        }, draws: draws)
    }

    static func permutationBaseline(indices: [Int], draws: [[Double]]) -> Double {
        guard !indices.isEmpty, !draws.isEmpty else { return .nan }
        let means = draws.map { d in indices.reduce(0.0) { $0 + d[$1] } / Double(indices.count) }
        return means.reduce(0, +) / Double(means.count)
    }
}
