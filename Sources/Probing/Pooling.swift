import Kernels

/// How per-token activations become one vector per sentence (Suau et al. 2022 use the mean).
public enum Pooling: String, Sendable, CaseIterable {
    case mean, max

    /// - Parameters: tokens `[Σ lengths, units]` packed by sentence (no padding rows);
    ///   lengths: tokens per sentence. Returns `[sentences, units]`.
    public func pool(_ tokens: [Float], lengths: [Int], units: Int) throws -> [Float] {
        try pool(tokens[...], lengths: lengths, units: units)
    }

    /// `pool` over a slice (a view of a larger buffer). With `positives` (`[units]`), each unit's
    /// count of tokens whose value is > 0 is added to it in the same pass over the rows (LAPE's
    /// activation counts).
    public func pool(_ tokens: ArraySlice<Float>, lengths: [Int], units: Int,
                     countingPositivesInto positives: UnsafeMutablePointer<Int64>? = nil, level: KernelPath = .fp32) throws -> [Float] {
        guard tokens.count == lengths.reduce(0, +) * units else {
            throw ProbingError.shape("pooling: \(tokens.count) values for \(lengths.reduce(0, +)) tokens × \(units) units")
        }
        var out = [Float](repeating: 0, count: lengths.count * units)
        // Each unit's sum (or maximum) runs over its tokens in order, in Double; row by row
        // (contiguous reads), eight units a vector (`PoolingKernel`), which changes no unit's order.
        let acc = UnsafeMutablePointer<Double>.allocate(capacity: Swift.max(1, units))
        defer { acc.deallocate() }
        let mean = self == .mean
        var row = 0
        try tokens.withUnsafeBufferPointer { t in
            try out.withUnsafeMutableBufferPointer { o in
                for (s, n) in lengths.enumerated() {
                    guard n > 0 else { throw ProbingError.empty("pooling: sentence \(s) has no tokens") }
                    acc.initialize(repeating: mean ? 0 : -.infinity, count: units)
                    PoolingKernel.accumulate(t.baseAddress! + row * units, rows: n, units: units, mean: mean, into: acc,
                                             positives: positives, level: level)
                    for u in 0..<units { o[s * units + u] = Float(mean ? acc[u] / Double(n) : acc[u]) }
                    row += n
                }
            }
        }
        return out
    }
}
