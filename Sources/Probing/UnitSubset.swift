/// Some units of one language's pool, ranked on their own: the units a null distribution is read
/// at (the experts of every source language), without ranking the other units of every layer.
public struct UnitSubset: Sendable {
    /// Flat index ↔ (layer, unit) of the whole pool.
    public let units: UnitIndex
    /// The subset's flat indices, ascending and distinct.
    public let members: [Int]
    public let sentences: Int
    let column: [Int: Int]
    let ranking: UnitRanking

    /// - Parameters: pooled: per layer of `units`, `[sentences, units in the layer]`; members: flat indices.
    public init(pooled: [[Float]], units: UnitIndex, sentences: Int, members: some Sequence<Int>) throws {
        guard pooled.count == units.layers.count else {
            throw ProbingError.shape("unit subset: \(pooled.count) layers of activations for \(units.layers.count) layers")
        }
        for (l, rows) in pooled.enumerated() where rows.count != sentences * units.layerSizes[l] {
            throw ProbingError.shape("unit subset: layer \(units.layers[l]) holds \(rows.count) values for \(sentences) sentences × \(units.layerSizes[l]) units")
        }
        let sorted = Array(Set(members)).sorted()
        guard let first = sorted.first, first >= 0, sorted.last! < units.count else {
            throw ProbingError.shape("unit subset: members must be flat indices below \(units.count), at least one")
        }
        let m = sorted.count
        var gathered = [Float](repeating: 0, count: sentences * m)
        var located: [(layer: Int, unit: Int)] = []
        located.reserveCapacity(m)
        var l = 0
        for flat in sorted {
            while flat >= units.offsets[l] + units.layerSizes[l] { l += 1 }
            located.append((l, flat - units.offsets[l]))
        }
        for i in 0..<sentences {
            for (c, at) in located.enumerated() {
                let x = pooled[at.layer][i * units.layerSizes[at.layer] + at.unit]
                guard x.isFinite else {
                    throw ProbingError.nonFinite(what: "activations", layer: units.layers[at.layer], unit: at.unit, row: i)
                }
                gathered[i * m + c] = x
            }
        }
        self.units = units
        self.members = sorted
        self.sentences = sentences
        column = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
        ranking = try UnitRanking(activations: gathered, sentences: sentences, units: m,
                                  layer: units.layers[located[0].layer])
    }
}
