import Foundation
import Kernels

/// Which language each vocabulary token belongs to, from how often it occurs in each language's
/// text: a token is a language's when at least `share` of its occurrences are in that language
/// and it occurs at least `minOccurrences` times; otherwise it is unattributed (−1).
public struct TokenAttribution: Sendable, Equatable {
    /// Per vocabulary id: the index of its language, or −1.
    public let language: [Int32]

    /// - Parameter occurrences: per language, the token ids of its text (every occurrence).
    public init(vocabSize: Int, occurrences: [[Int]], share: Double, minOccurrences: Int) {
        let L = occurrences.count
        var counts = [Int32](repeating: 0, count: vocabSize * L)
        for (j, ids) in occurrences.enumerated() {
            for id in ids where id >= 0 && id < vocabSize { counts[id * L + j] += 1 }
        }
        var language = [Int32](repeating: -1, count: vocabSize)
        for v in 0..<vocabSize {
            var total: Int32 = 0, best: Int32 = 0, which = -1
            for j in 0..<L {
                let n = counts[v * L + j]
                total += n
                if n > best { best = n; which = j }
            }
            // Integer comparison of best / total ≥ share, with share as a fraction of 10⁶ (no rounding surprises at 0.9).
            let shareMillionths = Int64((share * 1_000_000).rounded())
            if total >= minOccurrences, which >= 0, Int64(best) * 1_000_000 >= shareMillionths * Int64(total) {
                language[v] = Int32(which)
            }
        }
        self.language = language
    }

    /// The vocabulary ids of each language, ascending.
    public func members(languages: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: languages)
        for (v, j) in language.enumerated() where j >= 0 { out[Int(j)].append(v) }
        return out
    }
}

/// What the lens reads off rows of logits: per row, the softmax's mass on each language's tokens
/// (then on the unattributed ones) and the top-1 token. The softmax is computed in fp32 (own
/// vectorised exp, the same bits on every CPU) with its sums in Double.
public struct LensReading: Sendable {
    /// `[rows, languages + 1]`: mass on each language's tokens, then on the unattributed ones.
    public var mass: [Double]
    /// Per row: the id of the largest logit (the lowest id among equals).
    public var top: [Int]

    /// Reads `rows` rows of `vocab` logits at `logits`, overwriting them with exp(x − max).
    /// `level` is the exp pass's (`exponentiateShifted`), for tests.
    public init(logits: UnsafeMutablePointer<Float>, rows: Int, vocab: Int, members: [[Int]], level: KernelPath = .fp32) {
        let targets = members.count
        mass = [Double](repeating: 0, count: rows * (targets + 1))
        top = [Int](repeating: 0, count: rows)
        for r in 0..<rows {
            let x = logits + r * vocab
            // The largest logit, then its first id (NaN is never the largest).
            let m = largestValue(x, count: vocab)
            var arg = 0
            if m > -.infinity { while !(x[arg] == m) { arg += 1 } }
            top[r] = arg
            guard m.isFinite else {
                for j in 0...targets { mass[r * (targets + 1) + j] = .nan }
                continue
            }
            let acc = exponentiateShifted(x, count: vocab, by: m, level: level)
            var total = acc.sum()
            for i in (vocab / 16 * 16)..<vocab { let e = expf(x[i] - m); x[i] = e; total += Double(e) }
            var attributed = 0.0
            for (j, ids) in members.enumerated() {
                var s = 0.0
                for v in ids { s += Double(x[v]) }
                mass[r * (targets + 1) + j] = s / total
                attributed += s
            }
            mass[r * (targets + 1) + targets] = max(0, total - attributed) / total
        }
    }
}
