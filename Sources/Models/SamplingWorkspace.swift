import Foundation
import Kernels

extension SamplingOptions {
    /// `choose` over `logits` `[vocab]`, reusing `workspace`'s buffers (one workspace per thread).
    /// The kept set is found without sorting: one pass writes every token's weight and a histogram
    /// of count and weight per weight bucket (the leading bit and the 5 bits below it, so a bucket
    /// is a range of weights); the buckets are summed from the heaviest down to the one where the
    /// kept set ends, and only that bucket's tokens are ordered. The draw then walks the tokens by
    /// id, so the token is the one `chooseReference` gives, bit for bit (≈ 0.7 ms over 262k tokens, Zen 4).
    public func choose(_ logits: UnsafeBufferPointer<Float>, rng: inout SplitMix64, workspace s: inout SamplingWorkspace) -> Int {
        let n = logits.count
        precondition(n > 0, "sampling from no logits")
        guard !greedy, temperature > 0, let weights = SamplingWeights(logits, temperature: temperature) else {
            return Self.firstMaximum(logits)
        }
        s.reserve(n)
        let total = s.weigh(logits, weights, countTokens: KeepRule(self, count: n, total: 0).limit < n)
        let rule = KeepRule(self, count: n, total: total)
        // The kept set ends at (weight, id) = (lastWeight, lastID): heavier tokens, and tokens of
        // that weight up to that id, are kept.
        var lastWeight: UInt64 = 0, lastID = n - 1, kept = total
        if rule.limit < n || rule.p != nil {
            (lastWeight, lastID, kept) = s.boundary(rule)
        }
        let r = SamplingWeights.uniform(below: kept, rng: &rng)
        let w = s.weights
        var running: UInt64 = 0
        // Eight tokens at a time while the draw lies beyond them (weights < 2⁴¹ compare as Int64).
        let lw = SIMD8<Int64>(repeating: Int64(lastWeight)), lid = SIMD8<Int64>(repeating: Int64(lastID))
        var ids = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
        var start = 0
        let raw = UnsafeRawPointer(w)
        while start + 8 <= n {
            let wv = raw.loadUnaligned(fromByteOffset: start * 8, as: SIMD8<Int64>.self)
            let keep = (wv .> lw) .| ((wv .== lw) .& (ids .<= lid))
            let block = UInt64(wv.replacing(with: 0, where: .!keep).wrappedSum())
            if running &+ block > r { break }
            running &+= block
            start += 8
            ids &+= 8
        }
        for i in start..<n {
            let wi = w[i]
            let keep = wi > lastWeight || (wi == lastWeight && i <= lastID)
            running &+= keep ? wi : 0
            if running > r { return i }
        }
        return lastID
    }
}

/// Buffers of one sampling thread: the weights and weight buckets by token id, the
/// histogram, and the boundary bucket's tokens. Reused from token to token, so a step allocates nothing.
public struct SamplingWorkspace {
    var weights: UnsafeMutablePointer<UInt64>
    var buckets: UnsafeMutablePointer<UInt16>
    var members: UnsafeMutablePointer<UInt64>
    var counts: UnsafeMutablePointer<UInt32>
    var masses: UnsafeMutablePointer<UInt64>
    var capacity = 0
    /// Tokens of the logits last weighed.
    var size = 0
    /// Buckets of weights up to 2⁴⁰ (the largest `SamplingWeights` gives): 1 + 32 · 41.
    static let bucketCount = 1 + 32 * 41
    /// The most tokens the boundary bucket held in one draw (how much was ordered), for benchmarks.
    public private(set) var largestBoundaryBucket = 0

    public init() {
        weights = .allocate(capacity: 0); buckets = .allocate(capacity: 0)
        members = .allocate(capacity: 0)
        counts = .allocate(capacity: Self.bucketCount * 4); masses = .allocate(capacity: Self.bucketCount * 4)
    }

    /// Frees the buffers (the workspace is a value that does not own them automatically).
    public func release() {
        weights.deallocate(); buckets.deallocate(); members.deallocate()
        counts.deallocate(); masses.deallocate()
    }

    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        release()
        weights = .allocate(capacity: n); buckets = .allocate(capacity: n); members = .allocate(capacity: n)
        counts = .allocate(capacity: Self.bucketCount * 4); masses = .allocate(capacity: Self.bucketCount * 4)
        capacity = n
    }

    /// Writes every token's weight and bucket and the histogram; returns W, the weight of all.
    /// At AVX-512 and above the pass is C's (`SamplingKernel`, the same bits); `level` is for tests.
    mutating func weigh(_ logits: UnsafeBufferPointer<Float>, _ sw: SamplingWeights, countTokens: Bool,
                        level: KernelPath = .fp32) -> UInt64 {
        let n = logits.count
        size = n
        if level >= .avx512 {
            return SamplingKernel.weigh(logits, maximum: sw.maximum, inverseTemperature: sw.inverseTemperature, scale: sw.scale,
                                        weights: weights, buckets: buckets, masses: masses, counts: countTokens ? counts : nil,
                                        bucketCount: Self.bucketCount, level: level)
        }
        // Weights and buckets 16 tokens at a time: t = e · 2^s + 2⁵² holds round(e · 2^s) in its
        // low bits, and t − 2⁵² (exact) is that integer as a double, whose exponent and top five
        // fraction bits are the bucket's leading bit and the five below it.
        let source = UnsafeRawPointer(logits.baseAddress!)
        let w = UnsafeMutableRawPointer(weights), bucketOut = buckets
        let scale = SIMD8<Double>(repeating: sw.scale), magic = SIMD8<Double>(repeating: 0x1p52)
        let magicBits = SIMD8<UInt64>(repeating: (0x1p52 as Double).bitPattern)
        var sum = SIMD8<UInt64>()
        @inline(__always) func weigh8(_ e: SIMD8<Float>, at i: Int, count: Int) {
            let t = SIMD8<Double>(e) * scale + magic
            let weight = unsafeBitCast(t, to: SIMD8<UInt64>.self) &- magicBits
            let exponent = SIMD8<Int32>(truncatingIfNeeded: unsafeBitCast(t - magic, to: SIMD8<UInt64>.self) &>> 47)
            // − (1023 · 32 − 1), a weight of 0 (exponent field 0) clamped to bucket 0 without a compare.
            let biased = exponent &- 32735
            let bucket = biased & ~(biased &>> 31)
            if count == 8 {
                w.storeBytes(of: weight, toByteOffset: i * 8, as: SIMD8<UInt64>.self)
                sum &+= weight
                UnsafeMutableRawPointer(bucketOut).storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: bucket), toByteOffset: i * 2, as: SIMD8<UInt16>.self)
            } else {
                for l in 0..<count { weights[i + l] = weight[l]; sum[0] &+= weight[l]; bucketOut[i + l] = UInt16(truncatingIfNeeded: bucket[l]) }
            }
        }
        for c in 0..<(n / 16) {
            let e = sw.exponentials(source.loadUnaligned(fromByteOffset: c * 64, as: Vec16.self))
            weigh8(e.lowHalf, at: c * 16, count: 8)
            weigh8(e.highHalf, at: c * 16 + 8, count: 8)
        }
        if n % 16 != 0 {
            let start = n / 16 * 16
            var tail = Vec16(repeating: 0)
            for i in start..<n { tail[i - start] = logits[i] }
            let e = sw.exponentials(tail)
            weigh8(e.lowHalf, at: start, count: min(8, n - start))
            if n - start > 8 { weigh8(e.highHalf, at: start + 8, count: n - start - 8) }
        }
        let total = sum.wrappedSum()
        // Four histograms, token i in the (i mod 4)th: neighbouring tokens often share a bucket,
        // and one table would make each wait for the other's store. Counts only for top-k.
        let tables = Self.bucketCount * 4
        for b in 0..<tables { masses[b] = 0 }
        if countTokens { for b in 0..<tables { counts[b] = 0 } }
        @inline(__always) func add(_ i: Int, table: Int) {
            let b = table + Int(bucketOut[i])
            masses[b] &+= weights[i]
            if countTokens { counts[b] &+= 1 }
        }
        var i = 0
        while i + 4 <= n {
            add(i, table: 0)
            add(i + 1, table: Self.bucketCount)
            add(i + 2, table: 2 * Self.bucketCount)
            add(i + 3, table: 3 * Self.bucketCount)
            i += 4
        }
        while i < n { add(i, table: 0); i += 1 }
        let (b1, b2, b3) = (Self.bucketCount, 2 * Self.bucketCount, 3 * Self.bucketCount)
        for b in 0..<Self.bucketCount {
            masses[b] = masses[b] &+ masses[b + b1] &+ masses[b + b2] &+ masses[b + b3]
            if countTokens { counts[b] = counts[b] &+ counts[b + b1] &+ counts[b + b2] &+ counts[b + b3] }
        }
        return total
    }

    /// Where the kept set ends: the buckets summed heaviest first to the one where `rule` ends it,
    /// then that bucket's tokens in (weight descending, id ascending) order. Returns the last kept
    /// token's weight and id and the kept weight.
    mutating func boundary(_ rule: SamplingOptions.KeepRule, level: KernelPath = .fp32) -> (weight: UInt64, id: Int, kept: UInt64) {
        var count = 0, weight: UInt64 = 0, bucket = 0
        // Without top-k the counts were not kept (nor needed: the weight ends the set, at the latest
        // with the last weighted token), and an empty bucket is one without weight.
        let counted = rule.limit < size
        for b in stride(from: Self.bucketCount - 1, through: 0, by: -1) where counted ? counts[b] > 0 : masses[b] > 0 {
            bucket = b
            let c = counted ? Int(counts[b]) : 0
            if rule.ends(count: count + c, weight: weight + masses[b]) { break }
            count += c
            weight += masses[b]
        }
        // The bucket's tokens as keys that sort ascending in (weight descending, id ascending)
        // order: the weight's complement above the id (w < 2^(s+1) and s + 1 + id bits ≤ 63).
        let idBits = UInt64(Int.bitWidth - size.leadingZeroBitCount)
        let w = weights
        let m = SamplingKernel.members(of: bucket, buckets: buckets, weights: w, count: size, idBits: Int(idBits), into: members, level: level)
        largestBoundaryBucket = max(largestBoundaryBucket, m)
        let idMask = (1 as UInt64) &<< idBits &- 1
        // Not the whole bucket is ordered: its keys are split by their leading differing bits into
        // 256 groups (ascending key = the same order), the groups summed in order to the one where
        // the rule ends, and that group split again, until a few dozen keys remain to be sorted and
        // walked. The rule is monotone in count and weight, so the token it ends at is the one a
        // sort of the whole bucket finds.
        var keys = UnsafeMutableBufferPointer(start: members, count: m)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * 256) { table in
            let groupCount = table.baseAddress!, groupWeight = table.baseAddress! + 256
            while keys.count > 48 {
                var low = UInt64.max, high: UInt64 = 0
                for key in keys { low = min(low, key); high = max(high, key) }
                let shift = UInt64(max(0, 56 - (low ^ high).leadingZeroBitCount))   // the top 8 differing bits
                groupCount.update(repeating: 0, count: 512)
                for key in keys {
                    let g = Int((key &>> shift) & 255)
                    groupCount[g] += 1
                    groupWeight[g] += w[Int(key & idMask)]
                }
                var chosen = -1, lastNonEmpty = 0
                for g in 0..<256 where groupCount[g] > 0 {
                    lastNonEmpty = g
                    if rule.ends(count: count + Int(groupCount[g]), weight: weight + groupWeight[g]) { chosen = g; break }
                    count += Int(groupCount[g])
                    weight += groupWeight[g]
                }
                if chosen < 0 {   // the rule does not end in this bucket: all of it is kept, the last group walked
                    chosen = lastNonEmpty
                    count -= Int(groupCount[chosen])
                    weight -= groupWeight[chosen]
                }
                // The chosen group's keys to the front.
                var kept = 0
                for i in 0..<keys.count where Int((keys[i] &>> shift) & 255) == chosen {
                    keys.swapAt(i, kept)
                    kept += 1
                }
                keys = UnsafeMutableBufferPointer(rebasing: keys[0..<kept])
            }
        }
        keys.sort()
        var last = 0
        for key in keys {
            last = Int(key & idMask)
            count += 1
            weight += w[last]
            if rule.ends(count: count, weight: weight) { break }
        }
        return (w[last], last, weight)
    }
}
