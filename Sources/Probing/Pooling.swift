import Kernels

/// How per-token activations become one vector per sentence (Suau et al. 2022 use the mean).
public enum Pooling: String, Sendable, CaseIterable {
    case mean, max

    /// - Parameters: tokens `[Σ lengths, units]` packed by sentence (no padding rows);
    ///   lengths: tokens per sentence. Returns `[sentences, units]`.
    public func pool(_ tokens: [Float], lengths: [Int], units: Int) throws -> [Float] {
        guard tokens.count == lengths.reduce(0, +) * units else {
            throw ProbingError.shape("pooling: \(tokens.count) values for \(lengths.reduce(0, +)) tokens × \(units) units")
        }
        var out = [Float](repeating: 0, count: lengths.count * units)
        var row = 0
        for (s, n) in lengths.enumerated() {
            guard n > 0 else { throw ProbingError.empty("pooling: sentence \(s) has no tokens") }
            for u in 0..<units {
                var acc: Double = self == .mean ? 0 : -.infinity
                for t in row..<(row + n) {
                    let v = Double(tokens[t * units + u])
                    acc = self == .mean ? acc + v : Swift.max(acc, v)
                }
                out[s * units + u] = Float(self == .mean ? acc / Double(n) : acc)
            }
            row += n
        }
        return out
    }
}
