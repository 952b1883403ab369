import CKernelSupport

/// An fp32 weight matrix `[rows, cols]` (PyTorch's `[out, in]`) packed once, at load, into the
/// panels the fp32 product kernel reads (per 64 rows, a k-major `[cols][64]` panel; see
/// `xl_pack_f32`), so no forward repacks it: a decoding step of 100 rows otherwise spends a fifth
/// of its time doing so. Products through it give the same bits as through the plain matrix.
/// Row lookups (tied embeddings) gather from the panels.
public final class PackedMatrix: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let rows: Int
    public let cols: Int

    /// Packs `values` `[rows, cols]` (row-major) into storage of its own.
    public init(packing values: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        let count = max(1, xl_packed_f32_count(Int32(rows), Int32(cols)))
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        // Panels are packed by our threads, 64 rows of the matrix each: independent, data movement only.
        let level = KernelPath.fp32.rawValue
        let source = SharedPointer(UnsafeMutablePointer(mutating: values)), target = SharedPointer(pointer)
        let panels = (rows + 63) / 64, k = cols
        parallelChunks(panels, minimumChunk: max(1, (1 << 18) / max(1, 64 * k))) { range in
            let n0 = range.lowerBound * 64, n1 = min(rows, range.upperBound * 64)
            xl_pack_f32(level, source.base + n0 * k, k, Int32(n1 - n0), Int32(k), target.base + n0 * k)
        }
    }

    /// Packs a matrix whose rows `fill(first, count, into)` writes as fp32 (row-major), 256 rows
    /// at a time: a 16-bit checkpoint is widened a slice at a time, never as a whole fp32 copy.
    public init(rows: Int, cols: Int, fill: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        self.rows = rows
        self.cols = cols
        let count = max(1, xl_packed_f32_count(Int32(rows), Int32(cols)))
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        let slice = 256
        let wide = UnsafeMutableRawPointer.allocate(byteCount: max(1, slice * cols) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, slice * cols))
        defer { wide.deallocate() }
        for r0 in stride(from: 0, to: rows, by: slice) {
            let n = min(slice, rows - r0)
            fill(r0, n, wide)
            xl_pack_f32(KernelPath.fp32.rawValue, wide, cols, Int32(n), Int32(cols), pointer + r0 * cols)
        }
    }

    /// Stacks matrices of the same width whose rows are multiples of 64: their panels follow one another.
    public init(concatenating parts: [PackedMatrix]) {
        precondition(parts.allSatisfy { $0.rows % 64 == 0 && $0.cols == parts[0].cols }, "stacked packed matrices")
        rows = parts.reduce(0) { $0 + $1.rows }
        cols = parts[0].cols
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * cols) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(1, rows * cols))
        var at = pointer
        for p in parts {
            at.update(from: p.pointer, count: p.rows * p.cols)
            at += p.rows * p.cols
        }
    }

    deinit { pointer.deallocate() }

    /// Element (r, c).
    @inline(__always) public subscript(r: Int, c: Int) -> Float { pointer[(r / 64) * 64 * cols + c * 64 + r % 64] }

    /// Row `r` `[cols]` into `dst` (an embedding lookup).
    public func row(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        let panel = pointer + (r / 64) * 64 * cols + r % 64
        for c in 0..<cols { dst[c] = panel[c * 64] }
    }

    /// Bytes the packed matrix holds.
    public var byteCount: Int { xl_packed_f32_count(Int32(rows), Int32(cols)) * 4 }
}

extension Linear {
    /// nn.Linear over rows with a pre-packed weight: y[M, N] = x[M, K] · W[N, K]ᵀ + bias[N], the
    /// same bits as `forward(_:weight:)` on the unpacked matrix; then `activation`, applied by the
    /// kernel to each finished tile where it can be (the same bits as applying it after).
    /// - Parameters: x `[rows, inFeatures]`; y `[rows, outFeatures]`, overwritten.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, packed weight: PackedMatrix,
                               bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>,
                               activation: FusedActivation = .none) {
        guard rows > 0 else { return }
        precondition(weight.rows == outFeatures && weight.cols == inFeatures, "packed weight shape")
        let fused = activation.isFusable(columns: outFeatures)
        defer { if !fused { activation.apply(y, count: rows * outFeatures) } }
        if KernelSwitch.reference {
            for r in 0..<rows {
                for o in 0..<outFeatures {
                    var s: Double = 0
                    for k in 0..<inFeatures { s += Double(x[r * inFeatures + k]) * Double(weight[o, k]) }
                    y[r * outFeatures + o] = Float(s) + (bias?[o] ?? 0)
                }
            }
            return
        }
        Heap.configure()
        let level = KernelPath.fp32.rawValue
        let columnBlocks = (outFeatures + 63) / 64
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ws = SharedPointer(weight.pointer)
        let ys = SharedPointer(y), bs = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let work = rows * outFeatures * inFeatures
        parallelChunks(columnBlocks, minimumChunk: work < 1 << 21 ? columnBlocks : 1) { blocks in
            let n0 = blocks.lowerBound * 64, n1 = min(outFeatures, blocks.upperBound * 64)
            xl_gemm_f32_packed(level, Int32(rows), Int32(n1 - n0), Int32(inFeatures), xs.base, inFeatures,
                               ws.base + n0 * inFeatures, bs.map { UnsafePointer($0.base + n0) }, ys.base + n0, outFeatures,
                               fused ? activation.rawValue : FusedActivation.none.rawValue)
        }
    }
}
