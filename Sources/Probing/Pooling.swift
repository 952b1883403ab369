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
                     countingPositivesInto positives: UnsafeMutablePointer<Int64>? = nil) throws -> [Float] {
        guard tokens.count == lengths.reduce(0, +) * units else {
            throw ProbingError.shape("pooling: \(tokens.count) values for \(lengths.reduce(0, +)) tokens × \(units) units")
        }
        var out = [Float](repeating: 0, count: lengths.count * units)
        // Each unit's sum (or maximum) runs over its tokens in order, in Double; eight units at a
        // time, row by row (contiguous reads), which changes no unit's order of operations.
        let blocks = (units + 7) / 8
        let acc = UnsafeMutablePointer<SIMD8<Double>>.allocate(capacity: blocks)
        defer { acc.deallocate() }
        let mean = self == .mean
        var row = 0
        try tokens.withUnsafeBufferPointer { t in
            try out.withUnsafeMutableBufferPointer { o in
                for (s, n) in lengths.enumerated() {
                    guard n > 0 else { throw ProbingError.empty("pooling: sentence \(s) has no tokens") }
                    acc.initialize(repeating: SIMD8<Double>(repeating: mean ? 0 : -.infinity), count: blocks)
                    for r in row..<(row + n) {
                        let x = t.baseAddress! + r * units
                        var u = 0, b = 0
                        while u + 8 <= units {
                            let f = UnsafeRawPointer(x + u).loadUnaligned(as: SIMD8<Float>.self)
                            let v = SIMD8<Double>(f)
                            acc[b] = mean ? acc[b] + v : acc[b].replacing(with: v, where: v .>= acc[b])   // as Swift.max: y ≥ x ? y : x
                            if let positives {
                                let c = UnsafeMutableRawPointer(positives + u)
                                let one = SIMD8<Int64>(repeating: 1), zero = SIMD8<Int64>()
                                c.storeBytes(of: c.loadUnaligned(as: SIMD8<Int64>.self) &+ zero.replacing(with: one, where: v .> 0),
                                             as: SIMD8<Int64>.self)
                            }
                            u += 8; b += 1
                        }
                        while u < units {
                            let v = Double(x[u])
                            acc[b][u % 8] = mean ? acc[b][u % 8] + v : Swift.max(acc[b][u % 8], v)
                            if let positives, x[u] > 0 { positives[u] &+= 1 }
                            u += 1
                        }
                    }
                    for u in 0..<units {
                        let a = acc[u / 8][u % 8]
                        o[s * units + u] = Float(mean ? a / Double(n) : a)
                    }
                    row += n
                }
            }
        }
        return out
    }
}
