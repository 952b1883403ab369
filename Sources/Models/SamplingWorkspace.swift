import Foundation
import Kernels

extension SamplingOptions {
    /// `choose` over `logits` `[vocab]`, reusing `workspace`'s buffers (one workspace per thread).
    /// The kept set is found without sorting: one pass writes every token's weight and a histogram
    /// of count and weight per weight bucket (the leading bit and the 5 bits below it, so a bucket
    /// is a range of weights); the buckets are summed from the heaviest down to the one where the
    /// kept set ends, and only that bucket's tokens are ordered. The draw then walks the tokens by
    /// id, so the token is the one `chooseReference` gives, bit for bit, in ≈ 10 cycles a token.
    public func choose(_ logits: UnsafeBufferPointer<Float>, rng: inout SplitMix64, workspace s: inout SamplingWorkspace) -> Int {
        let n = logits.count
        precondition(n > 0, "sampling from no logits")
        guard !greedy, temperature > 0, let weights = SamplingWeights(logits, temperature: temperature) else {
            return Self.firstMaximum(logits)
        }
        s.reserve(n)
        let total = s.weigh(logits, weights)
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
        for i in 0..<n {
            let wi = w[i]
            let keep = wi > lastWeight || (wi == lastWeight && i <= lastID)
            running &+= keep ? wi : 0
            if running > r { return i }
        }
        return lastID
    }
}

/// Buffers of one sampling thread: the exponentials, weights and weight buckets by token id, the
/// histogram, and the boundary bucket's tokens. Reused from token to token, so a step allocates nothing.
public struct SamplingWorkspace {
    var exponentials: UnsafeMutablePointer<Float>
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
        exponentials = .allocate(capacity: 16); weights = .allocate(capacity: 0); buckets = .allocate(capacity: 0)
        members = .allocate(capacity: 0)
        counts = .allocate(capacity: Self.bucketCount * 4); masses = .allocate(capacity: Self.bucketCount * 4)
    }

    /// Frees the buffers (the workspace is a value that does not own them automatically).
    public func release() {
        exponentials.deallocate(); weights.deallocate(); buckets.deallocate(); members.deallocate()
        counts.deallocate(); masses.deallocate()
    }

    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        release()
        exponentials = .allocate(capacity: (n + 15) / 16 * 16)
        weights = .allocate(capacity: n); buckets = .allocate(capacity: n); members = .allocate(capacity: n)
        counts = .allocate(capacity: Self.bucketCount * 4); masses = .allocate(capacity: Self.bucketCount * 4)
        capacity = n
    }

    /// A weight's bucket: 0 for none, else 1 + 32 · (leading bit) + the 5 bits below it. Monotone
    /// in the weight, so every bucket is a range of weights and equal weights share one.
    @inline(__always) static func bucket(_ w: UInt64) -> Int {
        guard w != 0 else { return 0 }
        let lz = w.leadingZeroBitCount
        return 1 + (63 - lz) * 32 + Int(truncatingIfNeeded: (w &<< UInt64(lz)) &>> 58) & 31
    }

    /// Writes every token's weight and bucket and the histogram; returns W, the weight of all.
    mutating func weigh(_ logits: UnsafeBufferPointer<Float>, _ sw: SamplingWeights) -> UInt64 {
        let n = logits.count
        size = n
        let source = UnsafeRawPointer(logits.baseAddress!), out = UnsafeMutableRawPointer(exponentials)
        for c in 0..<(n / 16) {
            out.storeBytes(of: sw.exponentials(source.loadUnaligned(fromByteOffset: c * 64, as: Vec16.self)),
                           toByteOffset: c * 64, as: Vec16.self)
        }
        if n % 16 != 0 {
            var tail = Vec16(repeating: 0)
            for i in (n / 16 * 16)..<n { tail[i % 16] = logits[i] }
            out.storeBytes(of: sw.exponentials(tail), toByteOffset: n / 16 * 64, as: Vec16.self)
        }
        // Four histograms, token i in the (i mod 4)th: neighbouring tokens often share a bucket,
        // and one table would make each wait for the other's store.
        let tables = Self.bucketCount * 4
        for b in 0..<tables { counts[b] = 0; masses[b] = 0 }
        var total: UInt64 = 0
        var i = 0
        @inline(__always) func add(_ i: Int, table: Int) {
            let w = sw.weight(exponentials[i])
            let b = Self.bucket(w)
            weights[i] = w
            buckets[i] = UInt16(truncatingIfNeeded: b)
            counts[table + b] &+= 1
            masses[table + b] &+= w
            total &+= w
        }
        while i + 4 <= n {
            add(i, table: 0)
            add(i + 1, table: Self.bucketCount)
            add(i + 2, table: 2 * Self.bucketCount)
            add(i + 3, table: 3 * Self.bucketCount)
            i += 4
        }
        while i < n { add(i, table: 0); i += 1 }
        for b in 0..<Self.bucketCount {
            counts[b] = counts[b] &+ counts[b + Self.bucketCount] &+ counts[b + 2 * Self.bucketCount] &+ counts[b + 3 * Self.bucketCount]
            masses[b] = masses[b] &+ masses[b + Self.bucketCount] &+ masses[b + 2 * Self.bucketCount] &+ masses[b + 3 * Self.bucketCount]
        }
        return total
    }

    /// Where the kept set ends: the buckets summed heaviest first to the one where `rule` ends it,
    /// then that bucket's tokens in (weight descending, id ascending) order. Returns the last kept
    /// token's weight and id and the kept weight.
    mutating func boundary(_ rule: SamplingOptions.KeepRule) -> (weight: UInt64, id: Int, kept: UInt64) {
        var count = 0, weight: UInt64 = 0, bucket = 0
        for b in stride(from: Self.bucketCount - 1, through: 0, by: -1) where counts[b] > 0 {
            bucket = b
            if rule.ends(count: count + Int(counts[b]), weight: weight + masses[b]) { break }
            count += Int(counts[b])
            weight += masses[b]
        }
        // The bucket's tokens as keys that sort ascending in (weight descending, id ascending)
        // order: the weight's complement above the id (w < 2^(s+1) and s + 1 + id bits ≤ 63).
        var m = 0
        let target = UInt16(bucket)
        let idBits = UInt64(Int.bitWidth - size.leadingZeroBitCount)
        let w = weights
        for i in 0..<size where buckets[i] == target {
            members[m] = ~w[i] &<< idBits | UInt64(i)
            m += 1
        }
        largestBoundaryBucket = max(largestBoundaryBucket, m)
        var inBucket = UnsafeMutableBufferPointer(start: members, count: m)
        inBucket.sort()
        let idMask = (1 as UInt64) &<< idBits &- 1
        var last = 0
        for key in inBucket {
            last = Int(key & idMask)
            count += 1
            weight += w[last]
            if rule.ends(count: count, weight: weight) { break }
        }
        return (w[last], last, weight)
    }
}
