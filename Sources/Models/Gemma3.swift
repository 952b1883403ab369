import Checkpoints
import Foundation
import Kernels

/// Gemma 3, text model (Gemma Team 2025, arXiv:2503.19786): a port of transformers'
/// `modeling_gemma3.py` (v5.24) for inference. Every RMSNorm scales by (1 + weight). Per block,
/// with residual stream x:
///
///     h     = RMSNorm(x)                                      input_layernorm
///     q,k,v = h · W_q, h · W_k, h · W_v                       H query heads, G key/value heads
///     q,k   = RoPE(RMSNorm_head(q)), RoPE(RMSNorm_head(k))   q_norm/k_norm; θ local or global
///     a     = RMSNorm(softmax(q·kᵀ/√s, causal[, window]) · v · W_o)   → blocks.L.attn_out
///     x     = x + a                                           post_attention_layernorm above
///     m     = gelu_tanh(RMSNorm(x) · W_gate) ⊙ (RMSNorm(x) · W_up)   → blocks.L.mlp_post
///     x     = x + RMSNorm(m · W_down)                         → blocks.L.mlp_out, blocks.L.resid_post
///
/// Input: token embeddings × √d_model; `norm` follows the last block; the head is tied to the
/// embeddings. Local (sliding) layers see the last `sliding_window` positions.
public final class Gemma3: DecoderStack {
    struct Block: Sendable {
        let inputNorm: FloatBuffer          // gains, 1 + weight
        let qkv: FusedLinear                // q_proj, k_proj, v_proj
        let o: LinearWeights
        let qNorm: FloatBuffer
        let kNorm: FloatBuffer
        let postAttentionNorm: FloatBuffer
        let preFeedforwardNorm: FloatBuffer
        let gateUp: FusedLinear             // gate_proj, up_proj
        let down: LinearWeights
        let postFeedforwardNorm: FloatBuffer
        let sliding: Bool
    }

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["model.", ""]

    /// config.json's keys (transformers' `Gemma3TextConfig`): local/global layers, their rotary
    /// parameters, the query scale; soft-capping (null in Gemma 3) is refused.
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        c.dModel = try j.positive(["hidden_size"])
        c.nLayers = try j.positive(["num_hidden_layers"])
        c.nHeads = try j.positive(["num_attention_heads"])
        c.nKVHeads = try j.positive(["num_key_value_heads"], default: c.nHeads)
        c.headDim = try j.positive(["head_dim"], default: 256)
        c.dMLP = try j.positive(["intermediate_size"])
        c.layerNormEps = Float(j.double("rms_norm_eps", default: 1e-6))
        c.scaleEmbedding = true
        c.maxPositions = try j.positive(["max_position_embeddings"], default: 32768)
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: true)
        c.activation = j.string("hidden_activation", default: "gelu_pytorch_tanh")
        guard c.activation == "gelu_pytorch_tanh" else {
            throw j.fail("hidden_activation", "'\(c.activation)' is not supported (gelu_pytorch_tanh)")
        }
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] where !(j[key] == nil || j[key] is NSNull) {
            throw j.fail(key, "soft-capping is not supported (Gemma 3 sets it to null)")
        }
        c.slidingWindow = try j.positive(["sliding_window"], default: 512)
        if let types = j["layer_types"] as? [String] {
            guard types.count == c.nLayers, types.allSatisfy({ $0 == "sliding_attention" || $0 == "full_attention" }) else {
                throw j.fail("layer_types", "expected \(c.nLayers) of sliding_attention/full_attention")
            }
            c.slidingLayers = types.map { $0 == "sliding_attention" }
        } else {
            let pattern = try j.positive(["sliding_window_pattern", "_sliding_window_pattern"], default: 6)
            c.slidingLayers = (0..<c.nLayers).map { ($0 + 1) % pattern != 0 }
        }
        (c.localRotary, c.globalRotary) = try Self.gemmaRotary(j.json, path: j.path)
        c.queryScale = Float(pow(j.double("query_pre_attn_scalar", default: Double(c.headDim)), -0.5))
    }

    /// Gemma 3's rotary parameters for local (sliding) and global layers: transformers 5's
    /// `rope_parameters` {sliding_attention, full_attention}, or the older `rope_theta` +
    /// `rope_local_base_freq` + `rope_scaling`.
    static func gemmaRotary(_ json: [String: Any], path: String) throws -> (RotaryParameters, RotaryParameters) {
        func parse(_ d: [String: Any]?, theta fallback: Double, key: String) throws -> RotaryParameters {
            let theta = (d?["rope_theta"] as? NSNumber)?.doubleValue ?? fallback
            switch d?["rope_type"] as? String ?? d?["type"] as? String ?? "default" {
            case "default": return RotaryParameters(theta: theta)
            case "linear":
                guard let f = (d?["factor"] as? NSNumber)?.doubleValue, f > 0 else {
                    throw CheckpointError.badConfig(path: path, key: key, detail: "linear scaling needs a factor > 0")
                }
                return RotaryParameters(theta: theta, scaling: .linear(factor: f))
            case let other:
                throw CheckpointError.badConfig(path: path, key: key, detail: "rope_type '\(other)' is not supported (default, linear)")
            }
        }
        if let p = json["rope_parameters"] as? [String: Any], p["sliding_attention"] != nil || p["full_attention"] != nil {
            return (try parse(p["sliding_attention"] as? [String: Any], theta: 10_000, key: "rope_parameters.sliding_attention"),
                    try parse(p["full_attention"] as? [String: Any], theta: 1_000_000, key: "rope_parameters.full_attention"))
        }
        let global = (json["rope_theta"] as? NSNumber)?.doubleValue ?? 1_000_000
        let local = (json["rope_local_base_freq"] as? NSNumber)?.doubleValue ?? 10_000
        return (RotaryParameters(theta: local),
                try parse((json["rope_scaling"] as? [String: Any]).map { $0.merging(["rope_theta": global]) { a, _ in a } },
                          theta: global, key: "rope_scaling"))
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: FloatBuffer
    let head: LinearWeights
    let localRotary: Rotary
    let globalRotary: Rotary

    init(config: ModelConfig, loader: WeightLoader) throws {
        self.config = config
        let d = config.dModel, v = config.vocabSize, hd = config.headDim
        let qWidth = config.nHeads * hd, kvWidth = config.kvWidth
        var w = loader
        /// Gemma's RMSNorm gains: 1 + the stored weight (fp32, as `1.0 + self.weight.float()`).
        func norm(_ name: String, _ dim: Int) throws -> FloatBuffer {
            let weight = try w.load(name + ".weight", [dim])
            for i in 0..<dim { weight[i] = 1 + weight[i] }
            return weight
        }
        embedding = try w.loadMatrix("embed_tokens.weight", rows: v, cols: d, role: .embedding)
        blocks = try (0..<config.nLayers).map { l in
            let p = "layers.\(l)."
            return Block(inputNorm: try norm(p + "input_layernorm", d),
                         qkv: FusedLinear([try LinearWeights(&w, p + "self_attn.q_proj", in: d, out: qWidth, bias: false),
                                           try LinearWeights(&w, p + "self_attn.k_proj", in: d, out: kvWidth, bias: false),
                                           try LinearWeights(&w, p + "self_attn.v_proj", in: d, out: kvWidth, bias: false)]),
                         o: try LinearWeights(&w, p + "self_attn.o_proj", in: qWidth, out: d, bias: false),
                         qNorm: try norm(p + "self_attn.q_norm", hd),
                         kNorm: try norm(p + "self_attn.k_norm", hd),
                         postAttentionNorm: try norm(p + "post_attention_layernorm", d),
                         preFeedforwardNorm: try norm(p + "pre_feedforward_layernorm", d),
                         gateUp: FusedLinear([try LinearWeights(&w, p + "mlp.gate_proj", in: d, out: config.dMLP, bias: false),
                                              try LinearWeights(&w, p + "mlp.up_proj", in: d, out: config.dMLP, bias: false)]),
                         down: try LinearWeights(&w, p + "mlp.down_proj", in: config.dMLP, out: d, bias: false),
                         postFeedforwardNorm: try norm(p + "post_feedforward_layernorm", d),
                         sliding: config.slidingLayers.isEmpty ? false : config.slidingLayers[l])
        }
        finalNorm = try norm("norm", d)
        head = try w.outputHead(config, embedding: embedding, tieWhenMissing: true)
        canonicalNames = w.canonical
        let noScaling = RotaryParameters(theta: 10_000)
        localRotary = Rotary(config.localRotary ?? noScaling, headDim: hd)
        globalRotary = Rotary(config.globalRotary ?? noScaling, headDim: hd)
    }

    struct Scratch {
        let h, attn, q, k, v, context, gate, up: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel, qWidth = config.nHeads * config.headDim, kvWidth = config.kvWidth
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n, uninitialized: true) }
        return Scratch(h: buffer(t * d), attn: buffer(t * d), q: buffer(t * qWidth), k: buffer(t * kvWidth),
                       v: buffer(t * kvWidth), context: buffer(t * qWidth), gate: buffer(t * config.dMLP),
                       up: buffer(t * config.dMLP))
    }

    /// Scaled embeddings: × √d_model, the scale rounded to the weights' dtype (fp32) first.
    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        let d = config.dModel, scale = Float(Double(d).squareRoot())
        for (row, id) in pass.batch.joined().enumerated() {
            let dst = x + row * d
            embedding.row(id, cols: d, into: dst)
            for c in 0..<d { dst[c] *= scale }
        }
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel, hd = config.headDim, eps = config.layerNormEps
        RMSNorm.forward(x, s.h.pointer, rows: t, dim: d, gain: block.inputNorm.pointer, eps: eps)
        block.qkv(s.h.pointer, [s.q.pointer, s.k.pointer, s.v.pointer], rows: t)
        RMSNorm.forward(s.q.pointer, s.q.pointer, rows: t * config.nHeads, dim: hd, gain: block.qNorm.pointer, eps: eps)
        RMSNorm.forward(s.k.pointer, s.k.pointer, rows: t * config.nKVHeads, dim: hd, gain: block.kNorm.pointer, eps: eps)
        (block.sliding ? localRotary : globalRotary).apply(q: s.q.pointer, heads: config.nHeads, k: s.k.pointer,
                                                           kvHeads: config.nKVHeads, pass)
        pass.attend(l, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer, config: config, scale: config.queryScale,
                    window: block.sliding ? config.slidingWindow : nil, into: s.context.pointer)
        block.o(s.context.pointer, s.attn.pointer, rows: t)
        RMSNorm.forward(s.attn.pointer, s.attn.pointer, rows: t, dim: d, gain: block.postAttentionNorm.pointer, eps: eps)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)

        RMSNorm.forward(x, s.h.pointer, rows: t, dim: d, gain: block.preFeedforwardNorm.pointer, eps: eps)
        gatedMLP(s.h.pointer, gateUp: block.gateUp, down: block.down, activation: { Activation.geluTanh($0, count: $1) },
                 gate: s.gate.pointer, up: s.up.pointer, out: s.attn.pointer, layer: l, dMLP: config.dMLP, &pass)
        RMSNorm.forward(s.attn.pointer, s.attn.pointer, rows: t, dim: d, gain: block.postFeedforwardNorm.pointer, eps: eps)
        pass.visit([.mlpOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        RMSNorm.forward(x, x, rows: rows, dim: config.dModel, gain: finalNorm.pointer, eps: config.layerNormEps)
    }
}
