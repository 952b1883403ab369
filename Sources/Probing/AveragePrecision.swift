import Kernels

/// Average precision exactly as `sklearn.metrics.average_precision_score`:
/// AP = Σ_t (R_t − R_{t−1}) · P_t over the distinct scores t in descending order, where P_t and
/// R_t are precision and recall of "score ≥ t" (tied scores enter together). Suau et al. (ICML
/// 2022, §3) score each unit as a concept detector this way.
public enum AveragePrecision {
    /// The scalar reference: one unit. Returns 1 when every label is positive; throws without positives.
    public static func score(_ scores: [Float], labels: [Bool]) throws -> Double {
        let positives = labels.filter { $0 }.count
        guard positives > 0 else { throw ProbingError.noPositives("average precision") }
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var ap = 0.0, tp = 0, seen = 0, i = 0
        while i < order.count {
            var j = i, groupPositives = 0
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if labels[order[j]] { groupPositives += 1 }
                j += 1
            }
            tp += groupPositives
            seen = j
            if groupPositives > 0 { ap += Double(groupPositives) / Double(positives) * Double(tp) / Double(seen) }
            i = j
        }
        return ap
    }
}

/// Every unit's ranking of one sentence pool, computed once per (checkpoint, language) and reused
/// for every concept: `atLeast[u][i]` = how many sentences score ≥ sentence i on unit u. A
/// concept's AP per unit then costs O(P log P) for its P positives.
public struct UnitRanking: Sendable {
    public let sentences: Int
    public let units: Int
    /// `[units, sentences]`.
    let atLeast: [Int32]

    /// - Parameters: activations `[sentences, units]` (pooled); layer: for error messages.
    public init(activations: [Float], sentences: Int, units: Int, layer: Int? = nil) throws {
        guard sentences > 0, units > 0 else { throw ProbingError.empty("unit ranking") }
        guard activations.count == sentences * units else {
            throw ProbingError.shape("unit ranking: \(activations.count) values for \(sentences) sentences × \(units) units")
        }
        if let bad = activations.firstIndex(where: { !$0.isFinite }) {
            throw ProbingError.nonFinite(what: "activations", layer: layer ?? 0, unit: bad % units, row: bad / units)
        }
        self.sentences = sentences
        self.units = units
        var ranks = [Int32](repeating: 0, count: units * sentences)
        ranks.withUnsafeMutableBufferPointer { out in
            let dst = SharedPointer(out.baseAddress!)
            activations.withUnsafeBufferPointer { input in
                let src = SharedPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                parallelChunks(units, minimumChunk: 64) { range in
                    var keys = [UInt64](repeating: 0, count: sentences)
                    for u in range {
                        // Descending by value: sort ascending on the complemented order-preserving bits.
                        for i in 0..<sentences {
                            keys[i] = UInt64(~Self.orderedBits(src.base[i * units + u])) << 32 | UInt64(i)
                        }
                        keys.sort()
                        var start = 0
                        while start < sentences {
                            var end = start + 1
                            while end < sentences && keys[end] >> 32 == keys[start] >> 32 { end += 1 }
                            for p in start..<end { dst.base[u * sentences + Int(keys[p] & 0xFFFF_FFFF)] = Int32(end) }
                            start = end
                        }
                    }
                }
            }
        }
        atLeast = ranks
    }

    /// IEEE bits mapped so that unsigned order equals numeric order (−0 and +0 tie, as in sklearn).
    @inline(__always)
    static func orderedBits(_ x: Float) -> UInt32 {
        let b = (x == 0 ? Float(0) : x).bitPattern
        return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
    }

    /// AP of every unit for the sentences in `positives` (indices into the pool); all others are negatives.
    public func averagePrecision(positives: [Int]) throws -> [Double] {
        guard !positives.isEmpty else { throw ProbingError.noPositives("average precision") }
        guard Set(positives).count == positives.count, positives.allSatisfy({ $0 >= 0 && $0 < sentences }) else {
            throw ProbingError.shape("average precision: positives must be distinct sentence indices below \(sentences)")
        }
        var result = [Double](repeating: 0, count: units)
        let p = positives.count
        result.withUnsafeMutableBufferPointer { out in
            let dst = SharedPointer(out.baseAddress!)
            atLeast.withUnsafeBufferPointer { ranks in
                let r = SharedPointer(UnsafeMutablePointer(mutating: ranks.baseAddress!))
                parallelChunks(units, minimumChunk: 256) { range in
                    var a = [Int32](repeating: 0, count: p)
                    for u in range {
                        let row = r.base + u * sentences
                        for (k, s) in positives.enumerated() { a[k] = row[s] }
                        a.sort()
                        var ap = 0.0, tp = 0, i = 0
                        while i < p {
                            var j = i + 1
                            while j < p && a[j] == a[i] { j += 1 }
                            tp = j
                            ap += Double(j - i) * Double(tp) / Double(a[i])
                            i = j
                        }
                        dst.base[u] = ap / Double(p)
                    }
                }
            }
        }
        return result
    }
}
