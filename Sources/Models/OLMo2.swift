import Checkpoints
import Foundation
import Kernels

/// OLMo 2 (Team OLMo 2024, arXiv:2501.00656): a port of transformers' `modeling_olmo2.py`
/// (v5.24) for inference. Norms come after attention and after the MLP, not before; per block,
/// with residual stream x:
///
///     q,k,v = RMSNorm_q(x · W_q), RMSNorm_k(x · W_k), x · W_v   q_norm/k_norm over the whole projection
///     q,k   = RoPE(q), RoPE(k)                                H query heads, G key/value heads
///     a     = RMSNorm(softmax(q·kᵀ/√d_head, causal) · v · W_o)   post_attention_layernorm; → blocks.L.attn_out
///     x     = x + a
///     m     = silu(x · W_gate) ⊙ (x · W_up)                   → blocks.L.mlp_post
///     x     = x + RMSNorm(m · W_down)                         post_feedforward_layernorm; → blocks.L.mlp_out, resid_post
///
/// `norm` follows the last block; the head is `lm_head` unless tied to the embeddings.
public final class OLMo2: DecoderStack {
    struct Block: Sendable {
        let qkv: FusedLinear               // q_proj, k_proj, v_proj
        let qNorm: FloatBuffer             // [H·D]
        let kNorm: FloatBuffer             // [G·D]
        let o: LinearWeights
        let postAttentionNorm: FloatBuffer
        let gateUp: FusedLinear            // gate_proj, up_proj
        let down: LinearWeights
        let postFeedforwardNorm: FloatBuffer
    }

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["model.", ""]

    /// config.json's keys (transformers' `Olmo2Config`: Llama's, without `head_dim` and `mlp_bias`).
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        try Llama.readGatedConfig(j, into: &c, headDimKey: false, mlpBiasKey: false)
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: false)
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: FloatBuffer
    let head: LinearWeights
    let rotary: Rotary

    init(config c: ModelConfig, loader: WeightLoader) throws {
        config = c
        let d = c.dModel, q = c.nHeads * c.headDim, bias = c.attentionBias
        var w = loader
        embedding = try w.loadMatrix("embed_tokens.weight", rows: c.vocabSize, cols: d, role: .embedding)
        blocks = try (0..<c.nLayers).map { l in
            let p = "layers.\(l)."
            return Block(qkv: FusedLinear([try LinearWeights(&w, p + "self_attn.q_proj", in: d, out: q, bias: bias),
                                           try LinearWeights(&w, p + "self_attn.k_proj", in: d, out: c.kvWidth, bias: bias),
                                           try LinearWeights(&w, p + "self_attn.v_proj", in: d, out: c.kvWidth, bias: bias)]),
                         qNorm: try w.load(p + "self_attn.q_norm.weight", [q]),
                         kNorm: try w.load(p + "self_attn.k_norm.weight", [c.kvWidth]),
                         o: try LinearWeights(&w, p + "self_attn.o_proj", in: q, out: d, bias: bias),
                         postAttentionNorm: try w.load(p + "post_attention_layernorm.weight", [d]),
                         gateUp: FusedLinear([try LinearWeights(&w, p + "mlp.gate_proj", in: d, out: c.dMLP, bias: false),
                                              try LinearWeights(&w, p + "mlp.up_proj", in: d, out: c.dMLP, bias: false)]),
                         down: try LinearWeights(&w, p + "mlp.down_proj", in: c.dMLP, out: d, bias: false),
                         postFeedforwardNorm: try w.load(p + "post_feedforward_layernorm.weight", [d]))
        }
        finalNorm = try w.load("norm.weight", [d])
        head = try w.outputHead(c, embedding: embedding)
        canonicalNames = w.canonical
        rotary = Rotary(c.rotary ?? RotaryParameters(theta: 10_000), headDim: c.headDim)
    }

    struct Scratch {
        let attn, q, k, v, context, gate, up: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel, q = config.nHeads * config.headDim
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n, uninitialized: true) }
        return Scratch(attn: buffer(t * d), q: buffer(t * q), k: buffer(t * config.kvWidth), v: buffer(t * config.kvWidth),
                       context: buffer(t * q), gate: buffer(t * config.dMLP), up: buffer(t * config.dMLP))
    }

    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        for (row, id) in pass.batch.joined().enumerated() { embedding.row(id, cols: config.dModel, into: x + row * config.dModel) }
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel, hd = config.headDim, eps = config.layerNormEps
        let qWidth = config.nHeads * hd
        block.qkv(x, [s.q.pointer, s.k.pointer, s.v.pointer], rows: t)
        RMSNorm.forward(s.q.pointer, s.q.pointer, rows: t, dim: qWidth, gain: block.qNorm.pointer, eps: eps)
        RMSNorm.forward(s.k.pointer, s.k.pointer, rows: t, dim: config.kvWidth, gain: block.kNorm.pointer, eps: eps)
        rotary.apply(q: s.q.pointer, heads: config.nHeads, k: s.k.pointer, kvHeads: config.nKVHeads, pass)
        pass.attend(l, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer, config: config, into: s.context.pointer)
        block.o(s.context.pointer, s.attn.pointer, rows: t)
        RMSNorm.forward(s.attn.pointer, s.attn.pointer, rows: t, dim: d, gain: block.postAttentionNorm.pointer, eps: eps)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)

        gatedMLP(x, gateUp: block.gateUp, down: block.down, activation: { Activation.silu($0, count: $1) },
                 gate: s.gate.pointer, up: s.up.pointer, out: s.attn.pointer, layer: l, dMLP: config.dMLP, &pass)
        RMSNorm.forward(s.attn.pointer, s.attn.pointer, rows: t, dim: d, gain: block.postFeedforwardNorm.pointer, eps: eps)
        pass.visit([.mlpOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        RMSNorm.forward(x, x, rows: rows, dim: config.dModel, gain: finalNorm.pointer, eps: config.layerNormEps)
    }
}
