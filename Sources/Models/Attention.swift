import Kernels

/// Causal multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1) over KV caches,
/// with an optional ALiBi bias (Press et al. 2022): score(i, j) = bias_h·j + scale·q_i·k_j;
/// grouped-query attention (Ainslie et al. 2023: query head h reads key/value head h / (H / G));
/// and an optional sliding window (query at position p sees keys p − window + 1 … p; Gemma 3's
/// local layers, transformers' `sliding_window_overlay`).
/// Legend: T new tokens (packed over sequences), S keys of a sequence, H query heads and G
/// key/value heads of width D.
/// Where attention reads each sequence's keys and values, `[S, G·D]` rows (head g at g·D).
enum KeyValueSource {
    /// Each sequence's cache at one layer slot: its past positions, then the new tokens appended.
    case caches([KVCache], layer: Int)
    /// The new tokens' keys and values where a product left them, packed in batch order, rows
    /// `rowStride` floats apart and heads `headStride` apart: a forward that keeps no cache (no
    /// past), which then copies nothing (BLOOM's fused QKV: 3·H·D and 3·D; split products: G·D and D).
    case rows(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rowStride: Int, headStride: Int)
}

enum CausalAttention {
    /// Queries whose scores and context are computed together (a multiple of the product's 6-row tile).
    static let queryBlock = 24

    /// - Parameters:
    ///   - q: `[T, H·D]` queries of all sequences, packed in batch order.
    ///   - keysValues: per sequence, past keys/values and, at positions `past…`, the new ones
    ///     (`caches[s].length` still excludes them), or only the new ones where they lie.
    ///   - lengths: new tokens per sequence.
    ///   - slopes: ALiBi slope per head, or nil.
    ///   - kvHeads: G (caches hold `[S, G·D]`); nil: G = H.
    ///   - window: keys visible to a query, counting itself; nil: all before it.
    ///   - out: `[T, H·D]` context vectors.
    ///   - queryRows: floats from one token's queries to the next's, and from one head's to the next's,
    ///     when `q` is not `[T, H·D]` (BLOOM's fused QKV output read in place: 3·H·D and 3·D).
    static func run(q: UnsafePointer<Float>, keysValues: KeyValueSource, lengths: [Int], heads: Int, headDim: Int,
                    scale: Float, slopes: [Float]?, kvHeads: Int? = nil, window: Int? = nil,
                    queryRows: (rowStride: Int, headStride: Int)? = nil, out: UnsafeMutablePointer<Float>) {
        let width = heads * headDim
        let qRow = queryRows?.rowStride ?? width, qHead = queryRows?.headStride ?? headDim
        let groups = kvHeads ?? heads, kvWidth = groups * headDim, perGroup = heads / groups
        var starts: [Int] = []
        var row = 0
        for n in lengths { starts.append(row); row += n }
        let jobs = lengths.count * heads
        let qs = SharedPointer(UnsafeMutablePointer(mutating: q)), os = SharedPointer(out)
        parallelChunks(jobs) { range in
            var scores: [Float] = [], bias: [Float] = []
            // A head's keys and values, packed once for all its blocks of queries.
            let keysPacked = PackedOperand(), valuesPacked = PackedOperand()
            for job in range {
                let s = job / heads, h = job % heads, g = h / perGroup
                let n = lengths[s]
                // Keys and values of this sequence and key/value head: rows `ldb` apart from position 0.
                let past: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldb: Int
                switch keysValues {
                case .caches(let caches, let layer):
                    (past, ldb) = (caches[s].length, kvWidth)
                    k = UnsafePointer(caches[s].keys[layer].pointer + g * headDim)
                    v = UnsafePointer(caches[s].values[layer].pointer + g * headDim)
                case .rows(let keys, let values, let rowStride, let headStride):
                    (past, ldb) = (0, rowStride)
                    k = keys + starts[s] * rowStride + g * headStride
                    v = values + starts[s] * rowStride + g * headStride
                }
                let keys = past + n
                let qh = qs.base + starts[s] * qRow + h * qHead
                let oh = os.base + starts[s] * width + h * headDim
                if scores.count < n * keys { scores = [Float](repeating: 0, count: n * keys) }
                // ALiBi's bias of key j, slope·j, the same for every query.
                if let slopes {
                    if bias.count < keys { bias = [Float](repeating: 0, count: keys) }
                    for j in 0..<keys { bias[j] = slopes[h] * Float(j) }
                }
                scores.withUnsafeMutableBufferPointer { buffer in
                    let p = buffer.baseAddress!
                    // scores[i, j] = bias·j + scale · q_i·k_j  (BLOOM: alibi.baddbmm(q, kᵀ, beta=1, alpha=scale))
                    // for the keys a block of queries is computed over (the rest is masked below).
                    func startWithBias(rows: Range<Int>, keys visible: Int) {
                        guard slopes != nil else { return }
                        bias.withUnsafeBufferPointer { b in
                            for i in rows { (p + i * keys).update(from: b.baseAddress!, count: visible) }
                        }
                    }
                    if n == 1 {   // a decoding step: one query (the same bits as the product below)
                        startWithBias(rows: 0..<1, keys: keys)
                        Linear.rowProduct(n: keys, k: headDim, alpha: scale, a: qh, b: k, ldb: ldb,
                                          transposeB: true, beta: slopes == nil ? 0 : 1, c: p)
                    } else {
                        // In blocks of queries, each against the keys its last query sees: the causal
                        // rest is masked below, so it is not computed (every element's chain is its own).
                        // ALiBi's bias is a column bias of the product (the bits of C holding it with beta 1).
                        keysPacked.pack(k, ldb: ldb, transposeB: true, depth: headDim, columns: keys)
                        bias.withUnsafeBufferPointer { b in
                            let columnBias = slopes == nil ? nil : b.baseAddress
                            for i0 in stride(from: 0, to: n, by: Self.queryBlock) {
                                let rows = min(Self.queryBlock, n - i0), seen = past + i0 + rows
                                keysPacked.product(m: rows, n: seen, k: headDim, alpha: scale, a: qh + i0 * qRow, lda: qRow,
                                                   beta: 0, bias: columnBias, c: p + i0 * keys, ldc: keys)
                            }
                        }
                    }
                    // Causal mask: query i sees keys first…past+i; the rest get probability 0.
                    for i in 0..<n {
                        let visible = past + i + 1
                        let first = window.map { max(0, visible - $0) } ?? 0
                        (p + i * keys).update(repeating: 0, count: first)
                        Softmax.row(p + i * keys + first, count: visible - first)
                        (p + i * keys + visible).update(repeating: 0, count: keys - visible)
                    }
                    if n == 1 {
                        Linear.rowProduct(n: headDim, k: keys, alpha: 1, a: p, b: v, ldb: ldb, transposeB: false, beta: 0, c: oh)
                    } else {
                        // Each block of queries over the keys its last query sees: a chain's trailing
                        // masked terms are fma(0, v, acc) = acc, so leaving them out changes no bit.
                        valuesPacked.pack(v, ldb: ldb, transposeB: false, depth: keys, columns: headDim)
                        for i0 in stride(from: 0, to: n, by: Self.queryBlock) {
                            let rows = min(Self.queryBlock, n - i0)
                            valuesPacked.product(m: rows, n: headDim, k: past + i0 + rows, alpha: 1, a: p + i0 * keys, lda: keys,
                                                 beta: 0, c: oh + i0 * width, ldc: width)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= n {
            acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += alpha · x
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        while i + 16 <= n {
            let r = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                + alpha * rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            ry.storeBytes(of: r, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }
}

/// Splits a fused QKV product `[rows, 3·H·D]` laid out per head as `[H, 3, D]` (BLOOM's and
/// GPT-NeoX's `query_key_value`) into queries, keys and values, each `[rows, H·D]`.
func splitFusedHeads(_ qkv: UnsafePointer<Float>, rows: Int, heads: Int, headDim hd: Int,
                     q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
    let width = heads * hd
    let all = SharedPointer(UnsafeMutablePointer(mutating: qkv))
    let (qs, ks, vs) = (SharedPointer(q), SharedPointer(k), SharedPointer(v))
    parallelChunks(rows, minimumChunk: max(1, parallelMinimum / (3 * width))) { range in
        for row in range {
            let src = all.base + row * 3 * width
            for h in 0..<heads {
                let at = row * width + h * hd
                copyFloats(src + h * 3 * hd, to: qs.base + at, count: hd)
                copyFloats(src + h * 3 * hd + hd, to: ks.base + at, count: hd)
                copyFloats(src + h * 3 * hd + 2 * hd, to: vs.base + at, count: hd)
            }
        }
    }
}

/// `count` floats from `src` to `dst`, 16 at a time, inline: a head's 64 values are copied in four
/// vector moves instead of a call to memmove (48 calls a token in BLOOM's QKV split).
@inline(__always)
func copyFloats(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count n: Int) {
    let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
    var i = 0
    while i + 16 <= n {
        to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] = src[i]; i += 1 }
}
