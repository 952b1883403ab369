import CBLAS
import CKernelSupport

/// Dense products, row-major: fp32 through our own kernels (`xl_gemm_f32`, f32_gemm.c), bf16
/// through `xl_gemm_bf16_nt`. Each output element is one fused multiply-add chain over k in a fixed
/// order, so results are the same bits whatever the batch, the thread count or the CPU level.
public enum Linear {
    /// nn.Linear over rows: y[M, N] = x[M, K] · W[N, K]ᵀ + bias[N].
    /// - Parameters: x `[rows, inFeatures]`; weight `[outFeatures, inFeatures]` (PyTorch layout);
    ///   y `[rows, outFeatures]`, overwritten.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                               into y: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        if KernelSwitch.reference {
            return reference(x, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                             outFeatures: outFeatures, into: y)
        }
        Heap.configure()
        let level = KernelPath.fp32.rawValue
        // Output columns are split across our threads in 64-column panels: every element keeps
        // its own k order, so the split changes no bit.
        let columnBlocks = (outFeatures + 63) / 64
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ws = SharedPointer(UnsafeMutablePointer(mutating: weight))
        let ys = SharedPointer(y), bs = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let work = rows * outFeatures * inFeatures
        // Small products stay on one thread.
        parallelChunks(columnBlocks, minimumChunk: work < 1 << 21 ? columnBlocks : 1) { blocks in
            let n0 = blocks.lowerBound * 64, n1 = min(outFeatures, blocks.upperBound * 64)
            xl_gemm_f32(level, Int32(rows), Int32(n1 - n0), Int32(inFeatures), 1, xs.base, inFeatures, 0,
                        ws.base + n0 * inFeatures, inFeatures, 1, 0, bs.map { UnsafePointer($0.base + n0) },
                        ys.base + n0, outFeatures)
        }
    }

    /// `forward` through OpenBLAS sgemm (one single-threaded sgemm per thread's columns), kept as
    /// the comparison `bench forward` prints; its bits depend on OpenBLAS's kernel family.
    public static func forwardOpenBLAS(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                       weight: UnsafePointer<Float>, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        Heap.configure()
        openblas_set_num_threads(1)
        let columnBlocks = (outFeatures + 63) / 64
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ws = SharedPointer(UnsafeMutablePointer(mutating: weight))
        let ys = SharedPointer(y)
        parallelChunks(columnBlocks) { blocks in
            let n0 = blocks.lowerBound * 64, n1 = min(outFeatures, blocks.upperBound * 64)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(n1 - n0), Int32(inFeatures),
                        1, xs.base, Int32(inFeatures), ws.base + n0 * inFeatures, Int32(inFeatures), 0,
                        ys.base + n0, Int32(outFeatures))
        }
    }

    /// nn.Linear with 16-bit weights: y = round_bf16(x) · round_bf16(W)ᵀ + bias (bf16 weights are
    /// used as they are, fp16 ones rounded while packed), every product bf16 × bf16 with
    /// fp32 accumulation (VDPBF16PS or its exact FMA emulation, see `KernelPath`). Each element is
    /// computed in the same order whatever the batch, thread count or CPU level: bit-identical.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                               weight: HalfMatrix, bias: UnsafePointer<Float>?, outFeatures: Int,
                               into y: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        precondition(weight.rows == outFeatures && weight.cols == inFeatures, "bf16 weight shape")
        let level = KernelPath.active.rawValue
        let xb = roundedToBF16(x, rows: rows, inFeatures: inFeatures)
        defer { xb.deallocate() }
        let xbs = SharedPointer(xb)
        let ys = SharedPointer(y), bs = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let columnBlocks = (outFeatures + 63) / 64
        let work = rows * outFeatures * inFeatures
        parallelChunks(columnBlocks, minimumChunk: work < 1 << 21 ? columnBlocks : 1) { blocks in
            let n0 = blocks.lowerBound * 64, n1 = min(outFeatures, blocks.upperBound * 64)
            xl_gemm_bf16_nt(level, Int32(rows), Int32(n1 - n0), Int32(inFeatures), xbs.base, inFeatures,
                            weight.base + n0 * inFeatures, inFeatures, weight.format == .fp16 ? 1 : 0, bs.map { UnsafePointer($0.base + n0) },
                            ys.base + n0, outFeatures)
        }
    }

    /// `x` `[rows, inFeatures]` rounded to bf16 (nearest even) on our threads, into storage the caller deallocates.
    static func roundedToBF16(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int) -> UnsafeMutablePointer<UInt16> {
        let level = KernelPath.active.rawValue
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * inFeatures)
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), xbs = SharedPointer(xb)
        parallelChunks(rows, minimumChunk: max(1, (1 << 16) / max(1, inFeatures))) { r in
            xl_round_to_bf16(level, xs.base + r.lowerBound * inFeatures, xbs.base + r.lowerBound * inFeatures,
                             r.count * inFeatures)
        }
        return xb
    }

    /// The scalar ground truth of `forward` (double accumulation).
    public static func reference(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                 weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                                 into y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var s: Double = 0
                for k in 0..<inFeatures { s += Double(x[r * inFeatures + k]) * Double(weight[o * inFeatures + k]) }
                y[r * outFeatures + o] = Float(s) + (bias?[o] ?? 0)
            }
        }
    }

    /// General strided product C[M, N] = alpha · op(A) · op(B) + beta · C, with op(A) = Aᵀ when
    /// `transposeA` (A stored `[K, M]`) else A (`[M, K]`), op(B) = Bᵀ when `transposeB` (B stored
    /// `[N, K]`) else B (`[K, N]`); `lda`/`ldb`/`ldc` are row strides. One thread. Each element is
    /// one FMA chain over k, then alpha, then beta · C (see `xl_gemm_f32`).
    public static func gemm(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            transposeA: Bool = false, b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, beta: Float,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if KernelSwitch.reference {
            for i in 0..<m {
                for j in 0..<n {
                    var s: Double = 0
                    for p in 0..<k {
                        let av = transposeA ? a[p * lda + i] : a[i * lda + p]
                        let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                        s += Double(av) * Double(bv)
                    }
                    c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
                }
            }
            return
        }
        xl_gemm_f32(KernelPath.fp32.rawValue, Int32(m), Int32(n), Int32(k), alpha, a, lda, transposeA ? 1 : 0,
                    b, ldb, transposeB ? 1 : 0, beta, nil, c, ldc)
    }
}

extension Linear {
    /// One row `a[k]` times B into `c[n]`, each element as `gemm` computes it — one fp32 chain
    /// starting at 0 with an FMA per k in order, then alpha · (when not 1), then + beta · C (when
    /// beta is not 0) — so the same bits, without packing B or computing five rows for one: the
    /// single query of a decoding step against its keys (`transposeB`: B `[N, K]`) and values
    /// (B `[K, N]`). One thread.
    public static func rowProduct(n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
                                  transposeB: Bool, beta: Float, c: UnsafeMutablePointer<Float>) {
        if KernelSwitch.reference || n <= 0 || k <= 0 {
            gemm(m: 1, n: n, k: k, alpha: alpha, a: a, lda: max(1, k), b: b, ldb: ldb, transposeB: transposeB, beta: beta, c: c, ldc: n)
            return
        }
        if transposeB {
            // Eight outputs (rows of B) advance together, their values gathered by 8 × 8 transposes (C).
            xl_row_product_nt(KernelPath.fp32.rawValue, Int32(n), Int32(k), alpha, a, b, ldb, beta, c)
        } else {
            // Sixteen outputs (columns of B) a vector, lane l the chain of column j + l (C).
            xl_row_product_nn(KernelPath.fp32.rawValue, Int32(n), Int32(k), alpha, a, b, ldb, beta, c)
        }
    }
}

/// Large activation buffers are kept in the heap between forward passes instead of being mapped
/// and page-faulted in anew each time (glibc's default for blocks ≥ 128 KiB), and every thread
/// allocates from that one heap (a thread's own arena maps any block over 64 MiB afresh). The
/// CLI configures it before it starts a thread; a library user may call `configure()` first too.
public enum Heap {
    static let configured: Bool = {
        xl_keep_large_blocks_in_heap()
        return true
    }()

    @inline(__always) public static func configure() { _ = configured }

    /// Hands the heap's free pages back to the system: the large blocks one task freed (a pool of
    /// activations, a generation's caches) are kept for reuse within it, not resident into the next.
    public static func returnFree() { _ = xl_return_free_heap() }
}
