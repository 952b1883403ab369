import Checkpoints
import Foundation
import Kernels

/// BLOOM (BigScience 2022, arXiv:2211.05100): a port of transformers' `modeling_bloom.py`
/// (v5.24) for inference. Per block, with residual stream x:
///
///     ln   = LayerNorm(x)                             input_layernorm
///     q,k,v = split(ln · W_qkv)                       fused, laid out [heads, 3, headDim] per row
///     a    = softmax(ALiBi + qkᵀ/√d_head, causal) · v · W_o     → blocks.L.attn_out
///     x    = x + a                                    (ln instead of x if residual-post-LN)
///     m    = gelu_tanh(LayerNorm(x) · W_up)           → blocks.L.mlp_post
///     x    = x + m · W_down                           → blocks.L.mlp_out, blocks.L.resid_post
///
/// Embeddings are LayerNorm'd (`word_embeddings_layernorm`); `ln_f` follows the last block.
public final class Bloom: LanguageModel {
    struct Block: Sendable {
        let inputNorm: LayerNormWeights
        let qkv: LinearWeights
        let dense: LinearWeights
        let postAttentionNorm: LayerNormWeights
        let up: LinearWeights      // dense_h_to_4h
        let down: LinearWeights    // dense_4h_to_h
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let embeddingNorm: LayerNormWeights
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    let head: LinearWeights
    let slopes: [Float]

    public convenience init(config: ModelConfig, weights: WeightStore, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(store: weights, prefixes: ["transformer.", ""], precision: precision))
    }

    /// A model of `config`'s shape with random weights (benchmarks; nothing is read from disk).
    public convenience init(config: ModelConfig, randomSeed: UInt64, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(randomSeed: randomSeed, precision: precision))
    }

    init(config: ModelConfig, loader: WeightLoader) throws {
        self.config = config
        let d = config.dModel, v = config.vocabSize
        var w = loader
        embedding = try w.loadMatrix("word_embeddings.weight", rows: v, cols: d)
        embeddingNorm = try LayerNormWeights(&w, "word_embeddings_layernorm", d)
        blocks = try (0..<config.nLayers).map { l in
            let p = "h.\(l)."
            return Block(inputNorm: try LayerNormWeights(&w, p + "input_layernorm", d),
                         qkv: try LinearWeights(&w, p + "self_attention.query_key_value", in: d, out: 3 * d),
                         dense: try LinearWeights(&w, p + "self_attention.dense", in: d, out: d),
                         postAttentionNorm: try LayerNormWeights(&w, p + "post_attention_layernorm", d),
                         up: try LinearWeights(&w, p + "mlp.dense_h_to_4h", in: d, out: config.dMLP),
                         down: try LinearWeights(&w, p + "mlp.dense_4h_to_h", in: config.dMLP, out: d))
        }
        finalNorm = try LayerNormWeights(&w, "ln_f", d)
        head = try w.outputHead(config, embedding: embedding)
        canonicalNames = w.canonical
        slopes = Self.alibiSlopes(heads: config.nHeads)
    }

    /// ALiBi head slopes: a geometric sequence starting at 2^(-8/n) for the nearest power of two
    /// n ≤ heads; the remaining heads take every other slope of the sequence for 2n
    /// (Press et al. 2022 §3; transformers' `_get_alibi_slopes`). Computed in fp32 like torch.
    static func alibiSlopes(heads: Int) -> [Float] {
        let closest = 1 << Int(floor(log2(Double(heads))))
        let base = Float(pow(2.0, -pow(2.0, -(log2(Double(closest)) - 3))))
        var slopes = (1...closest).map { powf(base, Float($0)) }
        if closest != heads {
            let extraBase = Float(pow(2.0, -pow(2.0, -(log2(Double(2 * closest)) - 3))))
            let remaining = min(closest, heads - closest)
            slopes += stride(from: 1, through: 2 * remaining - 1, by: 2).map { powf(extraBase, Float($0)) }
        }
        return slopes
    }

    public func forward(_ batch: [[Int]], caches: [KVCache], request: ForwardRequest) throws -> ForwardResult {
        try validate(batch, caches: caches, config: config)
        try request.interventions.validate(config)
        let d = config.dModel, heads = config.nHeads, hd = config.headDim, eps = config.layerNormEps
        let lengths = batch.map(\.count)
        let t = lengths.reduce(0, +)
        let (layers, finalNormNeeded) = layersNeeded(request)
        let work = WorkingCaches(batch, caches, layers: config.nLayers, width: d)
        let kv = work.caches
        var recorder = SiteRecorder(request)

        let x = FloatBuffer(count: t * d, uninitialized: true), ln = FloatBuffer(count: t * d, uninitialized: true), attn = FloatBuffer(count: t * d, uninitialized: true)
        let qkv = FloatBuffer(count: t * 3 * d, uninitialized: true), q = FloatBuffer(count: t * d, uninitialized: true), context = FloatBuffer(count: t * d, uninitialized: true)
        let mlp = FloatBuffer(count: t * config.dMLP, uninitialized: true)

        // Embedding, then its LayerNorm.
        for (row, id) in batch.joined().enumerated() {
            embedding.row(id, cols: d, into: x.pointer + row * d)
        }
        embeddingNorm(x.pointer, x.pointer, rows: t, eps: eps)
        recorder.visit([.hidden(0), .residPre(0)], x.pointer, rows: t, width: d)

        for l in 0..<layers {
            let block = blocks[l]
            block.inputNorm(x.pointer, ln.pointer, rows: t, eps: eps)
            block.qkv(ln.pointer, qkv.pointer, rows: t)
            splitHeads(qkv: qkv.pointer, q: q.pointer, caches: kv, layer: work.slot(l), lengths: lengths)
            CausalAttention.run(q: q.pointer, caches: kv, layer: work.slot(l), lengths: lengths, heads: heads, headDim: hd,
                                scale: 1 / Float(hd).squareRoot(), slopes: slopes, out: context.pointer)
            block.dense(context.pointer, attn.pointer, rows: t)
            recorder.visit([.attnOut(l)], attn.pointer, rows: t, width: d)
            if config.residualFromLayerNorm { x.pointer.update(from: ln.pointer, count: t * d) }
            addInPlace(x.pointer, attn.pointer, count: t * d)

            block.postAttentionNorm(x.pointer, ln.pointer, rows: t, eps: eps)
            if config.residualFromLayerNorm { x.pointer.update(from: ln.pointer, count: t * d) }
            block.up(ln.pointer, mlp.pointer, rows: t)
            Activation.bloomGELU(mlp.pointer, count: t * config.dMLP)
            recorder.visit([.mlpPost(l)], mlp.pointer, rows: t, width: config.dMLP)
            block.down(mlp.pointer, attn.pointer, rows: t)
            recorder.visit([.mlpOut(l)], attn.pointer, rows: t, width: d)
            addInPlace(x.pointer, attn.pointer, count: t * d)
            let next: [HookSite] = l + 1 < config.nLayers ? [.hidden(l + 1), .residPre(l + 1)] : []
            recorder.visit([.residPost(l)] + next, x.pointer, rows: t, width: d)
        }
        var logits: [Float] = []
        if finalNormNeeded {
            finalNorm(x.pointer, x.pointer, rows: t, eps: eps)
            recorder.visit([.hidden(config.nLayers)], x.pointer, rows: t, width: d)
            logits = computeLogits(request.logits, x: x.pointer, lengths: lengths, width: d, head: head)
        }
        if layers == config.nLayers { work.commit(lengths) }
        return ForwardResult(lengths: lengths, activations: recorder.captured, logits: logits)
    }

    /// BLOOM's fused QKV row is `[heads, 3, headDim]`: writes queries to `q` `[T, d]` and appends
    /// keys/values to each sequence's cache at its current length.
    func splitHeads(qkv: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>, caches: [KVCache], layer: Int,
                    lengths: [Int]) {
        let d = config.dModel, hd = config.headDim
        var row = 0
        for (s, n) in lengths.enumerated() {
            let keys = caches[s].keys[layer].pointer, values = caches[s].values[layer].pointer
            let past = caches[s].length
            for i in 0..<n {
                let src = qkv + (row + i) * 3 * d
                for h in 0..<config.nHeads {
                    (q + (row + i) * d + h * hd).update(from: src + h * 3 * hd, count: hd)
                    (keys + (past + i) * d + h * hd).update(from: src + h * 3 * hd + hd, count: hd)
                    (values + (past + i) * d + h * hd).update(from: src + h * 3 * hd + 2 * hd, count: hd)
                }
            }
            row += n
        }
    }
}
