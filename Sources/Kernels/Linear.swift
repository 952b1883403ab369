import CBLAS

/// Dense products through BLAS (OpenBLAS sgemm), row-major.
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
        var beta: Float = 0
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
            beta = 1
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                    1, x, Int32(inFeatures), weight, Int32(inFeatures), beta, y, Int32(outFeatures))
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

    /// General strided product C[M, N] = alpha · A[M, K] · op(B) + beta · C, with op(B) = Bᵀ when
    /// `transposeB` (B stored `[N, K]`) else B (stored `[K, N]`); `lda`/`ldb`/`ldc` are row strides.
    public static func gemm(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, beta: Float,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        if KernelSwitch.reference {
            for i in 0..<m {
                for j in 0..<n {
                    var s: Double = 0
                    for p in 0..<k {
                        let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                        s += Double(a[i * lda + p]) * Double(bv)
                    }
                    c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
                }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Threads OpenBLAS uses for one product.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    /// OpenBLAS's kernel name for this CPU (e.g. "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
