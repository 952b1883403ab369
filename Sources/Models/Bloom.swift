import Checkpoints
import Foundation
import Kernels

/// BLOOM (BigScience 2022, arXiv:2211.05100): a port of transformers' `modeling_bloom.py`
/// (v5.24) for inference. Per block, with residual stream x:
///
///     ln   = LayerNorm(x)                             input_layernorm
///     q,k,v = ln · W_qkv                              fused, laid out [heads, 3, headDim] per row (read in place)
///     a    = softmax(ALiBi + qkᵀ/√d_head, causal) · v · W_o     → blocks.L.attn_out
///     x    = x + a                                    (ln instead of x if residual-post-LN)
///     m    = gelu_tanh(LayerNorm(x) · W_up)           → blocks.L.mlp_post
///     x    = x + m · W_down                           → blocks.L.mlp_out, blocks.L.resid_post
///
/// Embeddings are LayerNorm'd (`word_embeddings_layernorm`); `ln_f` follows the last block.
public final class Bloom: DecoderStack {
    struct Block: Sendable {
        let inputNorm: LayerNormWeights
        let qkv: LinearWeights
        let dense: LinearWeights
        let postAttentionNorm: LayerNormWeights
        let up: LinearWeights      // dense_h_to_4h
        let down: LinearWeights    // dense_4h_to_h
    }

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["transformer.", ""]

    /// config.json's keys (transformers' `BloomConfig`, with the GPT-2-style aliases).
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        c.dModel = try j.positive(["hidden_size", "n_embed"])
        c.nLayers = try j.positive(["n_layer", "num_hidden_layers"])
        c.nHeads = try j.positive(["n_head", "num_attention_heads"])
        c.headDim = try j.headWidth(dModel: c.dModel, heads: c.nHeads, key: "n_head")
        c.dMLP = 4 * c.dModel
        c.layerNormEps = Float(j.double("layer_norm_epsilon", default: 1e-5))
        c.residualFromLayerNorm = j.bool("apply_residual_connection_post_layernorm", default: false)
        c.activation = "bloom_gelu"
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: true)
        if (j["pretraining_tp"] as? Int ?? 1) > 1 && j.bool("slow_but_exact", default: false) {
            throw j.fail("slow_but_exact", "tensor-parallel slicing of dense products is not supported")
        }
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let embeddingNorm: LayerNormWeights
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    let head: LinearWeights
    let slopes: [Float]

    init(config: ModelConfig, loader: WeightLoader) throws {
        self.config = config
        let d = config.dModel, v = config.vocabSize
        var w = loader
        embedding = try w.loadMatrix("word_embeddings.weight", rows: v, cols: d, role: .embedding)
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
        head = try w.outputHead(config, embedding: embedding, tieWhenMissing: true)
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

    struct Scratch {
        let ln, attn, qkv, context, mlp: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel
        return Scratch(ln: FloatBuffer(count: t * d, uninitialized: true), attn: FloatBuffer(count: t * d, uninitialized: true),
                       qkv: FloatBuffer(count: t * 3 * d, uninitialized: true), context: FloatBuffer(count: t * d, uninitialized: true),
                       mlp: FloatBuffer(count: t * config.dMLP, uninitialized: true))
    }

    /// Embedding, then its LayerNorm.
    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        let d = config.dModel
        for (row, id) in pass.batch.joined().enumerated() { embedding.row(id, cols: d, into: x + row * d) }
        embeddingNorm(x, x, rows: pass.rows, eps: config.layerNormEps)
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel, eps = config.layerNormEps
        block.inputNorm(x, s.ln.pointer, rows: t, eps: eps)
        block.qkv(s.ln.pointer, s.qkv.pointer, rows: t)
        pass.attendFused(l, qkv: s.qkv.pointer, config: config, slopes: slopes, into: s.context.pointer)
        block.dense(s.context.pointer, s.attn.pointer, rows: t)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        if config.residualFromLayerNorm { x.update(from: s.ln.pointer, count: t * d) }
        addInPlace(x, s.attn.pointer, count: t * d)

        block.postAttentionNorm(x, s.ln.pointer, rows: t, eps: eps)
        if config.residualFromLayerNorm { x.update(from: s.ln.pointer, count: t * d) }
        plainMLP(s.ln.pointer, up: block.up, down: block.down, activation: "bloom_gelu",
                 hidden: s.mlp.pointer, out: s.attn.pointer, layer: l, dMLP: config.dMLP, &pass)
        pass.visit([.mlpOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) { finalNorm(x, x, rows: rows, eps: config.layerNormEps) }
}
