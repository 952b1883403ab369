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
public final class Gemma3: LanguageModel {
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

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: FloatBuffer
    let head: LinearWeights
    let localRotary: Rotary
    let globalRotary: Rotary

    public convenience init(config: ModelConfig, weights: WeightStore, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(store: weights, prefixes: ["model.", ""], precision: precision))
    }

    /// A model of `config`'s shape with random weights (benchmarks; nothing is read from disk).
    public convenience init(config: ModelConfig, randomSeed: UInt64, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(randomSeed: randomSeed, precision: precision))
    }

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
        embedding = try w.loadMatrix("embed_tokens.weight", rows: v, cols: d)
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
        head = try w.outputHead(config, embedding: embedding)
        canonicalNames = w.canonical
        let noScaling = RotaryParameters(theta: 10_000, linearFactor: 1)
        localRotary = Rotary(config.localRotary ?? noScaling, headDim: hd)
        globalRotary = Rotary(config.globalRotary ?? noScaling, headDim: hd)
    }

    public func forward(_ batch: [[Int]], caches: [KVCache], request: ForwardRequest) throws -> ForwardResult {
        try validate(batch, caches: caches, config: config)
        try request.interventions.validate(config)
        let d = config.dModel, hd = config.headDim, eps = config.layerNormEps
        let qWidth = config.nHeads * hd, kvWidth = config.kvWidth
        let lengths = batch.map(\.count)
        let t = lengths.reduce(0, +)
        let (layers, finalNormNeeded) = layersNeeded(request)
        let work = WorkingCaches(batch, caches, layers: config.nLayers, width: kvWidth)
        let kv = work.caches
        var recorder = SiteRecorder(request)

        let x = FloatBuffer(count: t * d, uninitialized: true), h = FloatBuffer(count: t * d, uninitialized: true)
        let attn = FloatBuffer(count: t * d, uninitialized: true)
        let q = FloatBuffer(count: t * qWidth, uninitialized: true), context = FloatBuffer(count: t * qWidth, uninitialized: true)
        let k = FloatBuffer(count: t * kvWidth, uninitialized: true), v = FloatBuffer(count: t * kvWidth, uninitialized: true)
        let gate = FloatBuffer(count: t * config.dMLP, uninitialized: true), up = FloatBuffer(count: t * config.dMLP, uninitialized: true)

        // Scaled embeddings: × √d_model, the scale rounded to the weights' dtype (fp32) first.
        let scale = Float(Double(d).squareRoot())
        for (row, id) in batch.joined().enumerated() {
            let dst = x.pointer + row * d
            embedding.row(id, cols: d, into: dst)
            for c in 0..<d { dst[c] *= scale }
        }
        recorder.visit([.hidden(0), .residPre(0)], x.pointer, rows: t, width: d)

        for l in 0..<layers {
            let block = blocks[l]
            RMSNorm.forward(x.pointer, h.pointer, rows: t, dim: d, gain: block.inputNorm.pointer, eps: eps)
            block.qkv(h.pointer, [q.pointer, k.pointer, v.pointer], rows: t)
            RMSNorm.forward(q.pointer, q.pointer, rows: t * config.nHeads, dim: hd, gain: block.qNorm.pointer, eps: eps)
            RMSNorm.forward(k.pointer, k.pointer, rows: t * config.nKVHeads, dim: hd, gain: block.kNorm.pointer, eps: eps)
            rotateAndCache(q: q.pointer, k: k.pointer, v: v.pointer, rotary: block.sliding ? localRotary : globalRotary,
                           caches: kv, layer: work.slot(l), lengths: lengths)
            CausalAttention.run(q: q.pointer, caches: kv, layer: work.slot(l), lengths: lengths, heads: config.nHeads,
                                headDim: hd, scale: config.queryScale ?? 1 / Float(hd).squareRoot(), slopes: nil,
                                kvHeads: config.nKVHeads, window: block.sliding ? config.slidingWindow : nil,
                                out: context.pointer)
            block.o(context.pointer, attn.pointer, rows: t)
            RMSNorm.forward(attn.pointer, attn.pointer, rows: t, dim: d, gain: block.postAttentionNorm.pointer, eps: eps)
            recorder.visit([.attnOut(l)], attn.pointer, rows: t, width: d)
            addInPlace(x.pointer, attn.pointer, count: t * d)

            RMSNorm.forward(x.pointer, h.pointer, rows: t, dim: d, gain: block.preFeedforwardNorm.pointer, eps: eps)
            block.gateUp(h.pointer, [gate.pointer, up.pointer], rows: t)
            Activation.geluTanh(gate.pointer, count: t * config.dMLP)
            multiplyInPlace(gate.pointer, up.pointer, count: t * config.dMLP)
            recorder.visit([.mlpPost(l)], gate.pointer, rows: t, width: config.dMLP)
            block.down(gate.pointer, attn.pointer, rows: t)
            RMSNorm.forward(attn.pointer, attn.pointer, rows: t, dim: d, gain: block.postFeedforwardNorm.pointer, eps: eps)
            recorder.visit([.mlpOut(l)], attn.pointer, rows: t, width: d)
            addInPlace(x.pointer, attn.pointer, count: t * d)
            let next: [HookSite] = l + 1 < config.nLayers ? [.hidden(l + 1), .residPre(l + 1)] : []
            recorder.visit([.residPost(l)] + next, x.pointer, rows: t, width: d)
        }
        var logits: [Float] = []
        if finalNormNeeded {
            RMSNorm.forward(x.pointer, x.pointer, rows: t, dim: d, gain: finalNorm.pointer, eps: eps)
            recorder.visit([.hidden(config.nLayers)], x.pointer, rows: t, width: d)
            logits = computeLogits(request.logits, x: x.pointer, lengths: lengths, width: d, head: head)
        }
        if layers == config.nLayers { work.commit(lengths) }
        return ForwardResult(lengths: lengths, activations: recorder.captured, logits: logits)
    }

    /// Rotates queries and keys by their absolute positions (each sequence continues at its cache
    /// length) and appends keys/values to the caches.
    func rotateAndCache(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafePointer<Float>,
                        rotary: Rotary, caches: [KVCache], layer: Int, lengths: [Int]) {
        let hd = config.headDim, qWidth = config.nHeads * hd, kvWidth = config.kvWidth
        var cos = [Float](repeating: 0, count: hd / 2), sin = [Float](repeating: 0, count: hd / 2)
        var row = 0
        for (s, n) in lengths.enumerated() {
            let past = caches[s].length
            let keys = caches[s].keys[layer].pointer, values = caches[s].values[layer].pointer
            for i in 0..<n {
                rotary.angles(position: past + i, cos: &cos, sin: &sin)
                rotary.rotate(q + (row + i) * qWidth, heads: config.nHeads, cos: cos, sin: sin)
                rotary.rotate(k + (row + i) * kvWidth, heads: config.nKVHeads, cos: cos, sin: sin)
                (keys + (past + i) * kvWidth).update(from: k + (row + i) * kvWidth, count: kvWidth)
                (values + (past + i) * kvWidth).update(from: v + (row + i) * kvWidth, count: kvWidth)
            }
            row += n
        }
    }
}

/// In-place y ⊙= x over `count` floats (the gated MLP's product).
func multiplyInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { y[i] *= x[i] }
}
