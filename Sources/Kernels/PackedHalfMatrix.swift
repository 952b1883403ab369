import CKernelSupport

/// A 16-bit weight matrix `[rows, cols]` (PyTorch's `[out, in]`) packed once, at load, into the
/// pair-interleaved panels the bf16 product kernel reads (per 64 rows, a `[(cols + 1) / 2][64]`
/// panel of bf16 pairs; fp16 values rounded to bf16 on the way; see `xl_pack_bf16`), so no forward
/// repacks it: a forward otherwise spends about a tenth of its time doing so. Products through it
/// give the same bits as through the `HalfMatrix` it was packed from, at every portable kernel
/// level; AMX hosts keep the plain matrix (`isUsable`).
public final class PackedHalfMatrix: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<UInt32>
    public let rows: Int
    public let cols: Int

    /// Whether this process's bf16 products run on pre-packed weights: at the portable levels.
    public static var isUsable: Bool { KernelPath.active.isPortable }

    /// Packs `matrix` into storage of its own, 64 rows per task on our threads (data movement only).
    public init(packing matrix: HalfMatrix) {
        rows = matrix.rows
        cols = matrix.cols
        let count = max(1, xl_packed_bf16_count(Int32(rows), Int32(cols)))
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: UInt32.self, capacity: count)
        let level = KernelPath.active.rawValue, fp16: Int32 = matrix.format == .fp16 ? 1 : 0
        let source = SharedPointer(UnsafeMutablePointer(mutating: matrix.base)), target = SharedPointer(pointer)
        let panels = (rows + 63) / 64, k = cols, depth = (cols + 1) / 2
        withExtendedLifetime(matrix.owner) {
            parallelChunks(panels, minimumChunk: max(1, (1 << 18) / max(1, 64 * k))) { range in
                let n0 = range.lowerBound * 64, n1 = min(rows, range.upperBound * 64)
                xl_pack_bf16(level, source.base + n0 * k, k, fp16, Int32(n1 - n0), Int32(k), target.base + n0 * depth)
            }
        }
    }

    /// Stacks matrices of the same width whose rows are multiples of 64: their panels follow one another.
    public init(concatenating parts: [PackedHalfMatrix]) {
        precondition(parts.allSatisfy { $0.rows % 64 == 0 && $0.cols == parts[0].cols }, "stacked packed matrices")
        rows = parts.reduce(0) { $0 + $1.rows }
        cols = parts[0].cols
        let count = max(1, xl_packed_bf16_count(Int32(rows), Int32(cols)))
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: UInt32.self, capacity: count)
        var at = pointer
        for p in parts {
            let words = xl_packed_bf16_count(Int32(p.rows), Int32(p.cols))
            at.update(from: p.pointer, count: words)
            at += words
        }
    }

    deinit { pointer.deallocate() }

    /// Element (r, c), widened to fp32 (exact).
    public subscript(r: Int, c: Int) -> Float { xl_packed_bf16_at(pointer, Int32(cols), Int32(r), Int32(c)) }

    /// Row `r` `[cols]` into `dst`, widened to fp32.
    public func row(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        for c in 0..<cols { dst[c] = self[r, c] }
    }

    /// Bytes the packed matrix holds.
    public var byteCount: Int { xl_packed_bf16_count(Int32(rows), Int32(cols)) * 4 }
}

extension Linear {
    /// `forward(_:weight:)` with a pre-packed 16-bit weight: y = round_bf16(x) · Wᵀ + bias, the same
    /// bits as through the plain matrix; then `activation`, applied by the kernel to each finished
    /// tile where it can be (the same bits as applying it after).
    /// - Parameters: x `[rows, inFeatures]`; y `[rows, outFeatures]`, overwritten.
    public static func forward(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, packed weight: PackedHalfMatrix,
                               bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>,
                               activation: FusedActivation = .none) {
        guard rows > 0 else { return }
        precondition(weight.rows == outFeatures && weight.cols == inFeatures, "packed bf16 weight shape")
        let fused = activation.isFusable(columns: outFeatures)
        defer { if !fused { activation.apply(y, count: rows * outFeatures) } }
        Heap.configure()
        let level = KernelPath.active.rawValue
        let xb = roundedToBF16(x, rows: rows, inFeatures: inFeatures)
        defer { xb.deallocate() }
        let xbs = SharedPointer(xb)
        let ys = SharedPointer(y), ws = SharedPointer(weight.pointer), bs = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let columnBlocks = (outFeatures + 63) / 64, depth = (inFeatures + 1) / 2
        let work = rows * outFeatures * inFeatures
        parallelChunks(columnBlocks, minimumChunk: work < 1 << 21 ? columnBlocks : 1) { blocks in
            let n0 = blocks.lowerBound * 64, n1 = min(outFeatures, blocks.upperBound * 64)
            xl_gemm_bf16_packed(level, Int32(rows), Int32(n1 - n0), Int32(inFeatures), xbs.base, inFeatures,
                                ws.base + n0 * depth, bs.map { UnsafePointer($0.base + n0) }, ys.base + n0, outFeatures,
                                fused ? activation.rawValue : FusedActivation.none.rawValue)
        }
    }
}
