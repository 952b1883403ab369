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
    /// `[units, sentences]`; 16 bits hold any pool of up to 65,535 sentences at half the memory.
    let atLeast: [UInt16]

    /// - Parameters: activations `[sentences, units]` (pooled); layer: for error messages.
    public init(activations: [Float], sentences: Int, units: Int, layer: Int? = nil) throws {
        guard sentences > 0, units > 0 else { throw ProbingError.empty("unit ranking") }
        guard activations.count == sentences * units else {
            throw ProbingError.shape("unit ranking: \(activations.count) values for \(sentences) sentences × \(units) units")
        }
        if let bad = activations.firstIndex(where: { !$0.isFinite }) {
            throw ProbingError.nonFinite(what: "activations", layer: layer ?? 0, unit: bad % units, row: bad / units)
        }
        guard sentences <= Int(UInt16.max) else {
            throw ProbingError.shape("unit ranking: \(sentences) sentences; a pool holds at most \(UInt16.max)")
        }
        self.sentences = sentences
        self.units = units
        // Every entry is written below, so the array starts uninitialised (no zero-fill pass).
        atLeast = [UInt16](unsafeUninitializedCapacity: units * sentences) { out, initialized in
            let dst = SharedPointer(out.baseAddress!)
            activations.withUnsafeBufferPointer { input in
                let src = SharedPointer(UnsafeMutablePointer(mutating: input.baseAddress!))
                // Blocks of 64 units are copied out row by row (contiguous reads), then each unit sorted.
                let block = 64
                let blocks = (units + block - 1) / block
                parallelChunks(blocks) { range in
                    let columns = UnsafeMutablePointer<Float>.allocate(capacity: block * sentences)
                    let keys = UnsafeMutablePointer<UInt32>.allocate(capacity: 2 * sentences)
                    let order = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * sentences)
                    let counts = UnsafeMutablePointer<Int>.allocate(capacity: 256)
                    defer { columns.deallocate(); keys.deallocate(); order.deallocate(); counts.deallocate() }
                    for b in range {
                        let u0 = b * block, width = min(block, units - u0)
                        for i in 0..<sentences {
                            let row = src.base + i * units + u0
                            for c in 0..<width { columns[c * sentences + i] = row[c] }
                        }
                        for c in 0..<width {
                            // Descending by value: ascending on the complemented order-preserving bits.
                            for i in 0..<sentences {
                                keys[i] = ~Self.orderedBits(columns[c * sentences + i])
                                order[i] = Int32(i)
                            }
                            let inScratch = Self.radixSort(sentences, keys, order, keys + sentences, order + sentences, counts)
                            let k = inScratch ? keys + sentences : keys, o = inScratch ? order + sentences : order
                            let out = dst.base + (u0 + c) * sentences
                            var start = 0
                            while start < sentences {
                                var end = start + 1
                                while end < sentences && k[end] == k[start] { end += 1 }
                                for p in start..<end { out[Int(o[p])] = UInt16(end) }
                                start = end
                            }
                        }
                    }
                }
            }
            initialized = units * sentences
        }
    }

    /// Sorts `keys` ascending carrying `order` (ties keep index order): a stable LSD radix sort on
    /// the upper 16 bits (two 8-bit digits; digits all keys share are skipped), then an insertion
    /// sort on full keys, which only moves elements inside runs of equal upper bits. Works through
    /// the scratch buffers; returns whether the result sits in the scratch.
    static func radixSort(_ n: Int, _ keys: UnsafeMutablePointer<UInt32>, _ order: UnsafeMutablePointer<Int32>,
                          _ tmpKeys: UnsafeMutablePointer<UInt32>, _ tmpOrder: UnsafeMutablePointer<Int32>,
                          _ counts: UnsafeMutablePointer<Int>) -> Bool {
        var (k, o, tk, to) = (keys, order, tmpKeys, tmpOrder)
        var swapped = false
        for shift in [UInt32(16), 24] {
            counts.update(repeating: 0, count: 256)
            for i in 0..<n { counts[Int((k[i] >> shift) & 0xFF)] += 1 }
            if counts[Int((k[0] >> shift) & 0xFF)] == n { continue }
            var total = 0
            for b in 0..<256 { let c = counts[b]; counts[b] = total; total += c }
            for i in 0..<n {
                let b = Int((k[i] >> shift) & 0xFF)
                tk[counts[b]] = k[i]
                to[counts[b]] = o[i]
                counts[b] += 1
            }
            (k, tk) = (tk, k)
            (o, to) = (to, o)
            swapped.toggle()
        }
        for i in 1..<max(1, n) {
            let key = k[i], index = o[i]
            var j = i - 1
            while j >= 0 && (k[j] > key || (k[j] == key && o[j] > index)) {
                k[j + 1] = k[j]
                o[j + 1] = o[j]
                j -= 1
            }
            k[j + 1] = key
            o[j + 1] = index
        }
        return swapped
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
                    var a = [UInt16](repeating: 0, count: p)
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
