import Checkpoints
import Foundation
import Kernels

/// The Llama family (Touvron et al. 2023, arXiv:2302.13971; Llama 2 and 3, TinyLlama, Viking,
/// LLM360 Amber): a port of transformers' `modeling_llama.py` (v5.24) for inference. Per block,
/// with residual stream x:
///
///     h     = RMSNorm(x)                                  input_layernorm
///     q,k,v = h · W_q, h · W_k, h · W_v (+ biases if attention_bias)   H query heads, G key/value heads
///     q,k   = RoPE(q), RoPE(k)                            θ = rope_theta, scaled (linear, llama3)
///     a     = softmax(q·kᵀ/√d_head, causal) · v · W_o     → blocks.L.attn_out
///     x     = x + a
///     m     = silu(RMSNorm(x) · W_gate) ⊙ (RMSNorm(x) · W_up)   post_attention_layernorm; → blocks.L.mlp_post
///     x     = x + m · W_down                              → blocks.L.mlp_out, blocks.L.resid_post
///
/// `norm` follows the last block; the head is `lm_head` unless tied to the embeddings.
public final class Llama: DecoderStack {
    struct Block: Sendable {
        let inputNorm: FloatBuffer
        let qkv: FusedLinear               // q_proj, k_proj, v_proj
        let o: LinearWeights
        let postAttentionNorm: FloatBuffer
        let gateUp: FusedLinear            // gate_proj, up_proj
        let down: LinearWeights
    }

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["model.", ""]

    /// config.json's keys (transformers' `LlamaConfig`).
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        try readGatedConfig(j, into: &c, headDimKey: true, mlpBiasKey: true)
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: false)
    }

    /// What Llama and OLMo-2 read alike: RMSNorm, SiLU-gated MLP, grouped key/value heads, rotary.
    static func readGatedConfig(_ j: ConfigJSON, into c: inout ModelConfig, headDimKey: Bool, mlpBiasKey: Bool) throws {
        c.dModel = try j.positive(["hidden_size"])
        c.nLayers = try j.positive(["num_hidden_layers"])
        c.nHeads = try j.positive(["num_attention_heads"])
        c.nKVHeads = try j.positive(["num_key_value_heads"], default: c.nHeads)
        c.headDim = headDimKey && j["head_dim"] != nil ? try j.positive(["head_dim"])
                                                        : try j.headWidth(dModel: c.dModel, heads: c.nHeads, key: "num_attention_heads")
        c.dMLP = try j.positive(["intermediate_size"])
        c.layerNormEps = Float(j.double("rms_norm_eps", default: 1e-6))
        c.maxPositions = try j.positive(["max_position_embeddings"], default: 2048)
        c.activation = try j.choice("hidden_act", default: "silu", allowed: ["silu"])
        c.attentionBias = j.bool("attention_bias", default: false)
        c.mlpBias = mlpBiasKey ? j.bool("mlp_bias", default: false) : false
        c.rotary = try RotaryParameters.read(j.json, path: j.path, defaultTheta: 10_000, maxPositions: c.maxPositions)
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
        let d = c.dModel, q = c.nHeads * c.headDim
        var w = loader
        embedding = try w.loadMatrix("embed_tokens.weight", rows: c.vocabSize, cols: d, role: .embedding)
        blocks = try (0..<c.nLayers).map { l in
            let p = "layers.\(l)."
            return Block(inputNorm: try w.load(p + "input_layernorm.weight", [d]),
                         qkv: FusedLinear([try LinearWeights(&w, p + "self_attn.q_proj", in: d, out: q, bias: c.attentionBias),
                                           try LinearWeights(&w, p + "self_attn.k_proj", in: d, out: c.kvWidth, bias: c.attentionBias),
                                           try LinearWeights(&w, p + "self_attn.v_proj", in: d, out: c.kvWidth, bias: c.attentionBias)]),
                         o: try LinearWeights(&w, p + "self_attn.o_proj", in: q, out: d, bias: c.attentionBias),
                         postAttentionNorm: try w.load(p + "post_attention_layernorm.weight", [d]),
                         gateUp: FusedLinear([try LinearWeights(&w, p + "mlp.gate_proj", in: d, out: c.dMLP, bias: c.mlpBias),
                                              try LinearWeights(&w, p + "mlp.up_proj", in: d, out: c.dMLP, bias: c.mlpBias)]),
                         down: try LinearWeights(&w, p + "mlp.down_proj", in: c.dMLP, out: d, bias: c.mlpBias))
        }
        finalNorm = try w.load("norm.weight", [d])
        head = try w.outputHead(c, embedding: embedding)
        canonicalNames = w.canonical
        rotary = Rotary(c.rotary ?? RotaryParameters(theta: 10_000), headDim: c.headDim)
    }

    struct Scratch {
        let h, attn, q, k, v, context, gate, up: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel, q = config.nHeads * config.headDim
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n, uninitialized: true) }
        return Scratch(h: buffer(t * d), attn: buffer(t * d), q: buffer(t * q), k: buffer(t * config.kvWidth),
                       v: buffer(t * config.kvWidth), context: buffer(t * q), gate: buffer(t * config.dMLP), up: buffer(t * config.dMLP))
    }

    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        for (row, id) in pass.batch.joined().enumerated() { embedding.row(id, cols: config.dModel, into: x + row * config.dModel) }
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel, eps = config.layerNormEps
        RMSNorm.forward(x, s.h.pointer, rows: t, dim: d, gain: block.inputNorm.pointer, eps: eps)
        block.qkv(s.h.pointer, [s.q.pointer, s.k.pointer, s.v.pointer], rows: t)
        rotary.apply(q: s.q.pointer, heads: config.nHeads, k: s.k.pointer, kvHeads: config.nKVHeads, pass)
        pass.attend(l, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer, config: config, into: s.context.pointer)
        block.o(s.context.pointer, s.attn.pointer, rows: t)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)

        RMSNorm.forward(x, s.h.pointer, rows: t, dim: d, gain: block.postAttentionNorm.pointer, eps: eps)
        gatedMLP(s.h.pointer, gateUp: block.gateUp, down: block.down, activation: { Activation.silu($0, count: $1) },
                 gate: s.gate.pointer, up: s.up.pointer, out: s.attn.pointer, layer: l, dMLP: config.dMLP, &pass)
        pass.visit([.mlpOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        RMSNorm.forward(x, x, rows: rows, dim: config.dModel, gain: finalNorm.pointer, eps: config.layerNormEps)
    }
}
