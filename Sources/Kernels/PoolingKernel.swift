import CKernelSupport

/// Pooling's pass over a sentence's rows in C (pooling.c), for `Probing.Pooling`: each unit's
/// Double sum, or running maximum (`Swift.max`'s v ≥ acc ? v : acc), over the rows in order, and
/// optionally each unit's count of values > 0 — the operations of the plain per-unit loop, eight
/// units a vector at `.avx512` and above, one by one below.
public enum PoolingKernel {
    /// Adds `rows` rows of `units` floats at `x` into `acc[units]` (and `positives[units]`).
    public static func accumulate(_ x: UnsafePointer<Float>, rows: Int, units: Int, mean: Bool,
                                  into acc: UnsafeMutablePointer<Double>, positives: UnsafeMutablePointer<Int64>?,
                                  level: KernelPath = .fp32) {
        xl_pool_rows(level.rawValue, x, rows, units, mean ? 1 : 0, acc, positives)
    }
}
