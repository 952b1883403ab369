import Kernels

/// Matched random-neuron controls for an intervention: as many units per layer as the experts
/// have there, drawn uniformly from the layer's units that are not experts. Specified so that an
/// independent reimplementation draws the same units (tools/oracle.py): one SplitMix64 stream
/// per draw; for each layer in order, each non-expert unit in ascending order gets the stream's
/// next value as its key, and the layer's units with the smallest (key, unit) are taken. The
/// result is sorted ascending (flat unit indices, like the experts).
public enum ControlUnits {
    public static func draw(experts: [Int64], units: UnitIndex, seed: UInt64) -> [Int64] {
        var rng = SplitMix64(seed: seed)
        let expertSet = Set(experts)
        var chosen: [Int64] = []
        for (i, size) in units.layerSizes.enumerated() {
            let first = units.offsets[i]
            let wanted = experts.filter { $0 >= Int64(first) && $0 < Int64(first + size) }.count
            var keyed: [(key: UInt64, unit: Int64)] = []
            keyed.reserveCapacity(size)
            for u in Int64(first)..<Int64(first + size) where !expertSet.contains(u) { keyed.append((rng.next(), u)) }
            guard wanted > 0 else { continue }
            keyed.sort { $0.key != $1.key ? $0.key < $1.key : $0.unit < $1.unit }
            chosen += keyed.prefix(wanted).map(\.unit)
        }
        return chosen.sorted()
    }
}

/// A seeded percentile bootstrap of a mean over samples: `resamples` resamples of the outcomes with
/// replacement (index ⌊uniform · n⌋, the uniform SplitMix64's top 53 bits × 2⁻⁵³, n draws per
/// resample), the mean of each, and the 2.5th and 97.5th percentiles of those means (numpy's
/// linear percentile). Several outcome series resampled with the same indices (paired measures
/// of the same samples) share one stream.
public enum Bootstrap {
    public static func intervals(_ series: [[Double]], resamples: Int = 1000, seed: UInt64) -> [(low: Double, high: Double)] {
        let n = series.first?.count ?? 0
        guard n > 0, resamples > 0 else { return series.map { _ in (.nan, .nan) } }
        var rng = SplitMix64(seed: seed)
        var means = [[Double]](repeating: [], count: series.count)
        var index = [Int](repeating: 0, count: n)
        for _ in 0..<resamples {
            for i in 0..<n { index[i] = min(n - 1, Int(rng.nextUniform() * Double(n))) }
            for (m, s) in series.enumerated() { means[m].append(index.reduce(0.0) { $0 + s[$1] } / Double(n)) }
        }
        return means.map { m in
            guard m.allSatisfy(\.isFinite) else { return (.nan, .nan) }
            let sorted = m.sorted()
            return (Percentile.of(sorted: sorted, 2.5), Percentile.of(sorted: sorted, 97.5))
        }
    }
}
