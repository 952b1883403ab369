import Checkpoints
import Foundation
import Kernels

/// GPT-NeoX (Black et al. 2022, arXiv:2204.06745; the Pythia suite): a port of transformers'
/// `modeling_gpt_neox.py` (v5.24) for inference. Per block, with residual stream x:
///
///     q,k,v = split(LayerNorm(x) · W_qkv + b)             input_layernorm; fused, [heads, 3, headDim] per row
///     q,k   = RoPE on the first rotary_pct of each head     partial rotary, θ = rotary_emb_base
///     a     = softmax(q·kᵀ/√d_head, causal) · v · W_o + b  → blocks.L.attn_out
///     parallel (use_parallel_residual):
///       m   = act(LayerNorm(x) · W_up + b)                  post_attention_layernorm; → blocks.L.mlp_post
///       x   = (m · W_down + b) + a + x                      → blocks.L.mlp_out, blocks.L.resid_post
///     sequential:
///       x   = a + x;  m = act(LayerNorm(x) · W_up + b);  x = (m · W_down + b) + x
///
/// `final_layer_norm` follows the last block; the head is the untied `embed_out`.
public final class GPTNeoX: DecoderStack {
    struct Block: Sendable {
        let inputNorm: LayerNormWeights
        let qkv: LinearWeights            // attention.query_key_value
        let dense: LinearWeights          // attention.dense
        let postAttentionNorm: LayerNormWeights
        let up: LinearWeights             // mlp.dense_h_to_4h
        let down: LinearWeights           // mlp.dense_4h_to_h
    }

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["gpt_neox.", ""]

    /// config.json's keys (transformers' `GPTNeoXConfig`): partial rotary, parallel residual, biases.
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        c.dModel = try j.positive(["hidden_size"])
        c.nLayers = try j.positive(["num_hidden_layers"])
        c.nHeads = try j.positive(["num_attention_heads"])
        c.headDim = try j.headWidth(dModel: c.dModel, heads: c.nHeads, key: "num_attention_heads")
        c.dMLP = try j.positive(["intermediate_size"], default: 4 * c.dModel)
        c.layerNormEps = Float(j.double("layer_norm_eps", default: 1e-5))
        c.maxPositions = try j.positive(["max_position_embeddings"], default: 2048)
        c.activation = try j.choice("hidden_act", default: "gelu", allowed: ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"])
        c.parallelResidual = j.bool("use_parallel_residual", default: true)
        c.attentionBias = j.bool("attention_bias", default: true)
        c.mlpBias = true
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: false)
        c.rotary = try RotaryParameters.read(j.json, path: j.path, defaultTheta: 10_000, thetaKeys: ["rotary_emb_base"],
                                             partialFactor: (j["rotary_pct"] as? NSNumber)?.doubleValue ?? 0.25,
                                             maxPositions: c.maxPositions)
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    let head: LinearWeights
    let rotary: Rotary

    init(config c: ModelConfig, loader: WeightLoader) throws {
        config = c
        let d = c.dModel
        var w = loader
        embedding = try w.loadMatrix("embed_in.weight", rows: c.vocabSize, cols: d, role: .embedding)
        blocks = try (0..<c.nLayers).map { l in
            let p = "layers.\(l)."
            return Block(inputNorm: try LayerNormWeights(&w, p + "input_layernorm", d),
                         qkv: try LinearWeights(&w, p + "attention.query_key_value", in: d, out: 3 * d, bias: c.attentionBias),
                         dense: try LinearWeights(&w, p + "attention.dense", in: d, out: d, bias: c.attentionBias),
                         postAttentionNorm: try LayerNormWeights(&w, p + "post_attention_layernorm", d),
                         up: try LinearWeights(&w, p + "mlp.dense_h_to_4h", in: d, out: c.dMLP),
                         down: try LinearWeights(&w, p + "mlp.dense_4h_to_h", in: c.dMLP, out: d))
        }
        finalNorm = try LayerNormWeights(&w, "final_layer_norm", d)
        head = try w.outputHead(c, embedding: embedding, name: "embed_out", aliases: ["lm_head"])
        canonicalNames = w.canonical
        rotary = Rotary(c.rotary ?? RotaryParameters(theta: 10_000, partialFactor: 0.25), headDim: c.headDim)
    }

    struct Scratch {
        let ln, attn, qkv, q, k, v, context, mlp, mlpOut: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n, uninitialized: true) }
        return Scratch(ln: buffer(t * d), attn: buffer(t * d), qkv: buffer(t * 3 * d), q: buffer(t * d), k: buffer(t * d),
                       v: buffer(t * d), context: buffer(t * d), mlp: buffer(t * config.dMLP), mlpOut: buffer(t * d))
    }

    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        for (row, id) in pass.batch.joined().enumerated() { embedding.row(id, cols: config.dModel, into: x + row * config.dModel) }
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel, hd = config.headDim, eps = config.layerNormEps
        block.inputNorm(x, s.ln.pointer, rows: t, eps: eps)
        block.qkv(s.ln.pointer, s.qkv.pointer, rows: t)
        splitFusedHeads(s.qkv.pointer, rows: t, heads: config.nHeads, headDim: hd, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer)
        rotary.apply(q: s.q.pointer, heads: config.nHeads, k: s.k.pointer, kvHeads: config.nHeads, pass)
        pass.attend(l, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer, config: config, into: s.context.pointer)
        block.dense(s.context.pointer, s.attn.pointer, rows: t)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        if !config.parallelResidual { addInPlace(x, s.attn.pointer, count: t * d) }

        block.postAttentionNorm(x, s.ln.pointer, rows: t, eps: eps)
        plainMLP(s.ln.pointer, up: block.up, down: block.down, activation: config.activation,
                 hidden: s.mlp.pointer, out: s.mlpOut.pointer, layer: l, dMLP: config.dMLP, &pass)
        pass.visit([.mlpOut(l)], s.mlpOut.pointer, width: d)
        if config.parallelResidual { addInPlace(s.mlpOut.pointer, s.attn.pointer, count: t * d) }   // (mlp + attn) + x
        addInPlace(x, s.mlpOut.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) { finalNorm(x, x, rows: rows, eps: config.layerNormEps) }
}
