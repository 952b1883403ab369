import Kernels

/// Rows of a matrix `[rows, columns]` sixteen at a time, column by column: block b's column j is
/// one vector of rows 16b…16b+15 (rows past the end are zero). A few classes' scores then cost one
/// load and one broadcast product per class for sixteen rows, where classes in the lanes of one
/// vector would leave most lanes idle. Each row still sums its columns in order, from its bias,
/// product then sum: the same value as a row-at-a-time loop.
struct RowBlocks: Sendable {
    /// Above this many classes, scores go through `Linear.gemm`.
    static let maximumClasses = 16
    let rows: Int, columns: Int
    let values: [SIMD16<Float>]

    init(_ x: [Float], rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        let blocks = (rows + 15) / 16
        values = [SIMD16<Float>](unsafeUninitializedCapacity: blocks * columns) { out, initialized in
            x.withUnsafeBufferPointer { xp in
                for b in 0..<blocks {
                    let count = min(16, rows - b * 16)
                    for j in 0..<columns {
                        var v = SIMD16<Float>()
                        for l in 0..<count { v[l] = xp[(b * 16 + l) * columns + j] }
                        out[b * columns + j] = v
                    }
                }
            }
            initialized = blocks * columns
        }
    }

    /// Class scores `[rows, classes]` = x wᵀ + b for w `[classes, columns]`: split over threads by
    /// row blocks, up to four classes of two blocks at a time (eight independent sums).
    func scores(classes k: Int, w: [Float], b: [Float]) -> [Float] {
        let n = rows, d = columns
        let blocks = (n + 15) / 16
        var z = [Float](repeating: 0, count: n * k)
        z.withUnsafeMutableBufferPointer { zp in
            let zs = SharedPointer(zp.baseAddress!)
            values.withUnsafeBufferPointer { vp in
                let xt = SharedPointer(UnsafeMutablePointer(mutating: vp.baseAddress!))
                w.withUnsafeBufferPointer { wp in
                    let ws = SharedPointer(UnsafeMutablePointer(mutating: wp.baseAddress!))
                    parallelChunks((blocks + 1) / 2, minimumChunk: 4) { pairs in
                        for pair in pairs {
                            let b0 = 2 * pair, b1 = min(2 * pair + 1, blocks - 1)
                            let v0 = xt.base + b0 * d, v1 = xt.base + b1 * d
                            for c0 in stride(from: 0, to: k, by: 4) {
                                let cw = min(4, k - c0)
                                // Classes past the last are computed on class c0's weights and not stored.
                                let w0 = ws.base + c0 * d
                                let w1 = ws.base + (c0 + min(1, cw - 1)) * d
                                let w2 = ws.base + (c0 + min(2, cw - 1)) * d
                                let w3 = ws.base + (c0 + min(3, cw - 1)) * d
                                var a0 = SIMD16<Float>(repeating: b[c0]), e0 = a0
                                var a1 = SIMD16<Float>(repeating: b[c0 + min(1, cw - 1)]), e1 = a1
                                var a2 = SIMD16<Float>(repeating: b[c0 + min(2, cw - 1)]), e2 = a2
                                var a3 = SIMD16<Float>(repeating: b[c0 + min(3, cw - 1)]), e3 = a3
                                for j in 0..<d {
                                    let x0 = v0[j], x1 = v1[j]
                                    let (s0, s1, s2, s3) = (w0[j], w1[j], w2[j], w3[j])
                                    a0 += x0 * s0; e0 += x1 * s0
                                    a1 += x0 * s1; e1 += x1 * s1
                                    a2 += x0 * s2; e2 += x1 * s2
                                    a3 += x0 * s3; e3 += x1 * s3
                                }
                                let sums = [(a0, e0), (a1, e1), (a2, e2), (a3, e3)]
                                for c in 0..<cw {
                                    for l in 0..<min(16, n - b0 * 16) { zs.base[(b0 * 16 + l) * k + c0 + c] = sums[c].0[l] }
                                    if b1 != b0 {
                                        for l in 0..<min(16, n - b1 * 16) { zs.base[(b1 * 16 + l) * k + c0 + c] = sums[c].1[l] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return z
    }
}
