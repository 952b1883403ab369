import Foundation
import Kernels

/// How the next token is chosen from logits.
///
/// Sampling (numerics `generate` 4) works on exact integer weights, so that choosing the kept set
/// and drawing from it need no floating-point sums whose order matters, and so no sort:
/// 1. m = the largest logit (NaN ignored). If there is none, or it is +∞, or 1/T is not finite,
///    the choice is greedy.
/// 2. Each token's weight is wᵢ = round(exp((lᵢ − m) · (1/T)) · 2^s), exp in fp32 by the kernels'
///    16-lane `simdExp`, s = min(40, 62 − bit width of the vocabulary size) (so Σw < 2⁶³); a NaN
///    logit weighs 0. The most likely token weighs 2^s; a token below 2^−(s+1) of it weighs 0
///    and is never drawn.
/// 3. Tokens in the order (w descending, id ascending): top-k keeps the first k; top-p keeps the
///    shortest prefix whose weight C satisfies C · 2³² ≥ W · P, W the weight of every token,
///    P = round(p · 2³²) (compared in 128 bits).
/// 4. r is uniform in [0, K), K the kept weight (Lemire's multiply with rejection on the
///    SplitMix64 stream); the token is the first kept one, by ascending id, whose running sum
///    of kept weights exceeds r.
/// Every kept token is drawn with probability w / K, whatever the walk's order; `chooseReference`
/// writes these steps out plainly (a comparison sort of every token) and `choose` computes the
/// same token with a weighted histogram instead of a sort.
public struct SamplingOptions: Sendable, Equatable {
    public var greedy: Bool
    public var temperature: Double
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int
    /// Keep the smallest most-likely set whose probability reaches p (1: all).
    public var topP: Double

    public init(greedy: Bool = false, temperature: Double = 1, topK: Int = 0, topP: Double = 1) {
        self.greedy = greedy
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public static let greedyDecoding = SamplingOptions(greedy: true)

    /// The next token (see the type's description).
    public func choose(_ logits: ArraySlice<Float>, rng: inout SplitMix64) -> Int {
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        return logits.withUnsafeBufferPointer { choose($0, rng: &rng, workspace: &workspace) }
    }

    /// The first maximum (as torch.argmax); NaN is never a maximum unless it comes first.
    static func firstMaximum(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in 0..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }

    /// The kept set's rule on the running weight C of the ordered prefix, given W and p.
    struct KeepRule {
        let limit: Int
        let total: UInt64
        let p: UInt64?

        init(_ options: SamplingOptions, count n: Int, total: UInt64) {
            limit = options.topK > 0 && options.topK < n ? options.topK : n
            self.total = total
            p = options.topP < 1 ? UInt64((max(0, options.topP) * 0x1p32).rounded()) : nil
        }

        /// Whether a prefix of `count` tokens weighing `weight` ends the kept set.
        @inline(__always) func ends(count: Int, weight: UInt64) -> Bool {
            if count >= limit { return true }
            guard let p else { return false }
            let c = weight.multipliedFullWidth(by: 1 << 32), need = total.multipliedFullWidth(by: p)
            return c.high > need.high || (c.high == need.high && c.low >= need.low)
        }
    }

    /// The specification `choose` follows, written plainly: every token's weight, a comparison
    /// sort of every token by (weight descending, id ascending), the kept prefix, one draw walked
    /// along the kept tokens by id. Tests check `choose` against it.
    public func chooseReference(_ logits: ArraySlice<Float>, rng: inout SplitMix64) -> Int {
        let l = Array(logits)
        return l.withUnsafeBufferPointer { l in
            guard !greedy, temperature > 0, let weights = SamplingWeights(l, temperature: temperature) else {
                return Self.firstMaximum(l)
            }
            let n = l.count
            let w = (0..<n).map { weights.weight(of: $0, logits: l) }
            let order = (0..<n).sorted { w[$0] != w[$1] ? w[$0] > w[$1] : $0 < $1 }
            let rule = KeepRule(self, count: n, total: w.reduce(0, +))
            var kept = 0, weight: UInt64 = 0
            for id in order {
                kept += 1
                weight += w[id]
                if rule.ends(count: kept, weight: weight) { break }
            }
            let r = SamplingWeights.uniform(below: weight, rng: &rng)
            var running: UInt64 = 0
            for id in order[..<kept].sorted() {
                running += w[id]
                if running > r { return id }
            }
            return order[kept - 1]
        }
    }
}

/// Step 1 and 2 of sampling, shared by `choose` and `chooseReference`: the largest logit, the
/// scale and each token's integer weight.
struct SamplingWeights {
    let maximum: Float
    let inverseTemperature: Float
    /// 2^s as a double.
    let scale: Double

    /// Nil when the choice is greedy (no finite maximum, or 1/T not finite).
    init?(_ logits: UnsafeBufferPointer<Float>, temperature: Double) {
        let n = logits.count
        let m = largestValue(logits.baseAddress!, count: n)
        let inverse = Float(1 / temperature)
        guard m.isFinite, inverse.isFinite else { return nil }
        maximum = m
        inverseTemperature = inverse
        let bits = min(40, 62 - (Int.bitWidth - n.leadingZeroBitCount))
        scale = Double(sign: .plus, exponent: bits, significand: 1)
    }

    /// exp((l − m) · (1/T)) of 16 logits; NaN (a NaN logit, or −∞ · 0) becomes 0.
    @inline(__always) func exponentials(_ l: Vec16) -> Vec16 {
        var x = (l - maximum) * inverseTemperature
        x.replace(with: -.infinity, where: .!(x .== x))
        return simdExp(x)
    }

    /// round(e · 2^s): exact in a double (e has 24 bits, e · 2^s < 2⁵²), rounded by adding 2⁵².
    @inline(__always) func weight(_ e: Float) -> UInt64 {
        (Double(e) * scale + 0x1p52).bitPattern &- (0x1p52 as Double).bitPattern
    }

    /// Token `i`'s weight on its own (the lanes are independent, so any chunk gives the same bits).
    func weight(of i: Int, logits: UnsafeBufferPointer<Float>) -> UInt64 {
        weight(exponentials(Vec16(repeating: logits[i]))[0])
    }

    /// Uniform in [0, k) from the stream: the high word of next() · k, redrawn while the low word
    /// falls below 2⁶⁴ mod k (Lemire 2019), so that every value is equally likely.
    static func uniform(below k: UInt64, rng: inout SplitMix64) -> UInt64 {
        precondition(k > 0, "sampling from no weight")
        var m = rng.next().multipliedFullWidth(by: k)
        if m.low < k {
            let threshold = (0 &- k) % k
            while m.low < threshold { m = rng.next().multipliedFullWidth(by: k) }
        }
        return m.high
    }
}
