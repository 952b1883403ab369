import CKernelSupport

/// The B of several products, packed once into the fp32 kernel's panels: attention multiplies
/// each block of a head's queries by the same keys (and its probabilities by the same values),
/// and packing them per block cost more than the blocks' arithmetic on short sequences. The
/// storage grows as needed and is reused (one per thread). Products through it are the same bits
/// as `Linear.gemm` on the plain B (packing moves data only).
public final class PackedOperand {
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// What is packed now: B as `Linear.gemm` reads it, op(B) `[depth, columns]`.
    private var b: UnsafePointer<Float>?
    private var ldb = 0, transposeB = false
    public private(set) var depth = 0, columns = 0

    public init() {}

    deinit { storage?.deallocate() }

    /// Packs op(B) `[depth, columns]`: B stored `[columns, depth]` when `transposeB` (keys), else
    /// `[depth, columns]` (values), rows `ldb` apart.
    public func pack(_ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, depth: Int, columns: Int) {
        (self.b, self.ldb, self.transposeB, self.depth, self.columns) = (b, ldb, transposeB, depth, columns)
        if KernelSwitch.reference { return }   // the reference products read B where it lies
        let count = max(1, xl_packed_f32_count(Int32(columns), Int32(depth)))
        if count > capacity {
            storage?.deallocate()
            storage = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
            capacity = count
        }
        if transposeB {
            xl_pack_f32(KernelPath.fp32.rawValue, b, ldb, Int32(columns), Int32(depth), storage!)
        } else {
            xl_pack_f32_nn(b, ldb, Int32(columns), Int32(depth), storage!)
        }
    }

    /// C[m, n] = alpha · A[m, k] · op(B)[k, n] + beta · C (+ bias[n]), with k ≤ `depth` (the first
    /// k rows of op(B)) and n ≤ `columns`: `Linear.gemm`'s bits, and with `bias` and beta 0 the
    /// bits of C holding the bias in every row and beta 1 (1 · C is exact), without the copies.
    public func product(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, beta: Float,
                        bias: UnsafePointer<Float>? = nil, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(k <= depth && n <= columns, "a product beyond the packed operand")
        guard let b else { preconditionFailure("nothing packed") }
        if KernelSwitch.reference {
            if let bias {
                precondition(beta == 0, "a bias with beta")
                for i in 0..<m { (c + i * ldc).update(from: bias, count: n) }
            }
            return Linear.gemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, transposeB: transposeB,
                               beta: bias == nil ? beta : 1, c: c, ldc: ldc)
        }
        xl_gemm_f32_prepacked(KernelPath.fp32.rawValue, Int32(m), Int32(n), Int32(k), alpha, a, lda, storage!, Int32(depth),
                              beta, bias, c, ldc)
    }
}
