import CKernelSupport

/// Sampling's passes over a row of logits in C (sampling.c): the weighing (every token's integer
/// weight round(exp((l − m) · (1/T)) · 2^s), its weight bucket, and the histogram of weight and
/// count per bucket) — lane for lane what `SamplingWorkspace.weigh`'s Swift loop computes, which it
/// stands in for at `.avx512` and above — and the boundary bucket's tokens.
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
    /// `members`; returns how many. AVX-512: 32 buckets compared at a time; below, one by one.
    public static func members(of target: Int, buckets: UnsafePointer<UInt16>, weights: UnsafePointer<UInt64>, count: Int,
                               idBits: Int, into members: UnsafeMutablePointer<UInt64>, level: KernelPath = .fp32) -> Int {
        xl_bucket_members(level.rawValue, buckets, weights, count, Int32(target), Int32(idBits), members)
    }
}
