import CKernelSupport

/// Sampling's weighing pass in C (sampling.c) for AVX-512 CPUs: every token's integer weight
/// round(exp((l − m) · (1/T)) · 2^s), its weight bucket, and the histogram of weight (and count)
/// per bucket — lane for lane what `SamplingWorkspace.weigh` computes in Swift, which it stands
/// in for at `.avx512` and above.
public enum SamplingKernel {
    /// `masses` (and `counts`, when given) hold four tables of `bucketCount`; the histogram ends up
    /// in the first. Returns the weight of all tokens. Below `.avx512` the C pass computes one
    /// scalar lane at a time (for tests: Swift's own vector loop is the faster one there).
    public static func weigh(_ logits: UnsafeBufferPointer<Float>, maximum: Float, inverseTemperature: Float, scale: Double,
                             weights: UnsafeMutablePointer<UInt64>, buckets: UnsafeMutablePointer<UInt16>,
                             masses: UnsafeMutablePointer<UInt64>, counts: UnsafeMutablePointer<UInt32>?, bucketCount: Int,
                             level: KernelPath = .fp32) -> UInt64 {
        return xl_sampling_weigh(level.rawValue, logits.baseAddress!, logits.count, maximum, inverseTemperature, scale,
                                 weights, buckets, masses, counts, Int32(bucketCount))
    }

    /// The tokens of bucket `target` as sort keys ~weight << idBits | id (ascending id) into
    /// `members`; returns how many. AVX-512: 32 buckets compared at a time.
    public static func members(of target: Int, buckets: UnsafePointer<UInt16>, weights: UnsafePointer<UInt64>, count: Int,
                               idBits: Int, into members: UnsafeMutablePointer<UInt64>, level: KernelPath = .fp32) -> Int {
        xl_bucket_members(level.rawValue, buckets, weights, count, Int32(target), Int32(idBits), members)
    }
}

/// x = exp(x − m) in place (`simdExp`) over the first count / 16 · 16 floats, returning per lane l
/// the running sum, over each 16 values e, of Double(e[l]) + Double(e[l + 8]) (the logit lens's
/// softmax denominator before its last reduction). AVX-512: C's pass (sampling.c), the same bits.
public func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, count: Int, by m: Float, level: KernelPath = .fp32) -> SIMD8<Double> {
    var acc = SIMD8<Double>()
    if level >= .avx512 {
        withUnsafeMutableBytes(of: &acc) {
            xl_exp_shift_sum(level.rawValue, x, count / 16 * 16, m, $0.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return acc
    }
    let raw = UnsafeMutableRawPointer(x)
    let stride = MemoryLayout<Vec16>.stride
    for i in 0..<(count / 16) {
        let e = simdExp(raw.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self) - m)
        raw.storeBytes(of: e, toByteOffset: i * stride, as: Vec16.self)
        acc += SIMD8<Double>(e.lowHalf) + SIMD8<Double>(e.highHalf)
    }
    return acc
}
