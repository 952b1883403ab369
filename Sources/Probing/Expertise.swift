import Kernels

/// One unit of one layer, e.g. an expert neuron.
public struct UnitID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let layer: Int
    public let unit: Int
    public init(layer: Int, unit: Int) { self.layer = layer; self.unit = unit }
    public static func < (a: UnitID, b: UnitID) -> Bool { (a.layer, a.unit) < (b.layer, b.unit) }
    public var description: String { "\(layer):\(unit)" }
}

/// Per-unit expertise of one (concept, language): AP of the pooled activation for positives vs
/// negatives (Suau et al., ICML 2022), and the forcing values used by interventions.
public struct Expertise: Sendable {
    public let layers: [Int]
    public let layerSizes: [Int]
    /// Concatenated over `layers`, in unit order.
    public let averagePrecision: [Double]
    /// Median (p50) and 90th percentile of the unit's pooled activation over positive sentences.
    public let onP50: [Double]
    public let onP90: [Double]
    /// Mean pooled activation over negative sentences.
    public let offMean: [Double]

    /// Flat unit index ↔ (layer, unit) over `layers`.
    public var units: UnitIndex { UnitIndex(layers: layers, layerSizes: layerSizes) }

    public func unit(at index: Int) -> UnitID {
        guard let id = units.unit(at: index) else { preconditionFailure("unit index \(index) outside \(units.count) units") }
        return id
    }

    public func index(of id: UnitID) -> Int? { units.flat(id) }

    /// The K experts: highest AP first; ties by layer, then unit (deterministic).
    public func top(_ k: Int) -> [UnitID] {
        let order = averagePrecision.indices.sorted { a, b in
            averagePrecision[a] != averagePrecision[b] ? averagePrecision[a] > averagePrecision[b] : a < b
        }
        return order.prefix(k).map(unit(at:))
    }
}

/// One language's sentence pool at the captured layers of one checkpoint. Rankings are built once
/// and serve every concept of the language (a concept's negatives are the pool's other sentences).
public struct SentencePool: Sendable {
    public let sentences: Int
    public let layers: [Int]
    public let layerSizes: [Int]
    let rankings: [UnitRanking]
    /// Per layer `[sentences, units]`.
    let activations: [[Float]]
    /// Per layer and unit: Σ over all sentences, for off_mean.
    let sums: [[Double]]

    /// - Parameter layers: (layer number, pooled activations `[sentences, units]`).
    public init(sentences: Int, layers: [(layer: Int, activations: [Float])]) throws {
        guard sentences > 0, !layers.isEmpty else { throw ProbingError.empty("sentence pool") }
        self.sentences = sentences
        self.layers = layers.map(\.layer)
        layerSizes = layers.map { $0.activations.count / sentences }
        rankings = try layers.map { l in
            try UnitRanking(activations: l.activations, sentences: sentences, units: l.activations.count / sentences,
                            layer: l.layer)
        }
        activations = layers.map(\.activations)
        sums = zip(layers, layerSizes).map { l, units in
            var s = [Double](repeating: 0, count: units)
            for i in 0..<sentences { for u in 0..<units { s[u] += Double(l.activations[i * units + u]) } }
            return s
        }
    }

    /// Expertise of every unit for the concept whose positive sentences are `positives`.
    public func expertise(positives: [Int], concept: String = "concept") throws -> Expertise {
        guard !positives.isEmpty else { throw ProbingError.noPositives(concept) }
        guard positives.count < sentences else { throw ProbingError.noNegatives(concept) }
        var ap: [Double] = [], p50: [Double] = [], p90: [Double] = [], off: [Double] = []
        let p = positives.count, negatives = Double(sentences - positives.count)
        for (l, ranking) in rankings.enumerated() {
            ap += try ranking.averagePrecision(positives: positives)
            let units = layerSizes[l]
            let values = activations[l]
            var column = [Double](repeating: 0, count: p)
            for u in 0..<units {
                var positiveSum = 0.0
                for (k, s) in positives.enumerated() {
                    column[k] = Double(values[s * units + u])
                    positiveSum += column[k]
                }
                column.sort()
                p50.append(Percentile.of(sorted: column, 50))
                p90.append(Percentile.of(sorted: column, 90))
                off.append((sums[l][u] - positiveSum) / negatives)
            }
        }
        return Expertise(layers: layers, layerSizes: layerSizes, averagePrecision: ap, onP50: p50, onP90: p90, offMean: off)
    }
}
