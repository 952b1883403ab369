import Checkpoints
import Foundation
import Kernels

/// XGLM (Lin et al. 2022, arXiv:2112.10668): a port of transformers' `modeling_xglm.py` (v5.24)
/// for inference. Pre-LN decoder; per block, with residual stream x:
///
///     a = softmax((LayerNorm(x)·W_q)/√d_head · (LayerNorm(x)·W_k)ᵀ, causal) · (LayerNorm(x)·W_v) · W_o
///                                                      → blocks.L.attn_out
///     x = x + a
///     m = gelu(LayerNorm(x) · W_fc1)                   → blocks.L.mlp_post (fc2's input)
///     x = x + m · W_fc2                                → blocks.L.mlp_out, blocks.L.resid_post
///
/// Input: token embeddings × √d_model (if `scale_embedding`) plus fixed sinusoidal positions
/// at position + 2 (fairseq's padding offset); `layer_norm` follows the last block.
public final class XGLM: LanguageModel {
    struct Block: Sendable {
        let attentionNorm: LayerNormWeights   // self_attn_layer_norm
        let qProj: LinearWeights
        let kProj: LinearWeights
        let vProj: LinearWeights
        let outProj: LinearWeights
        let mlpNorm: LayerNormWeights         // final_layer_norm
        let fc1: LinearWeights
        let fc2: LinearWeights
    }

    /// fairseq reserves positions 0 and 1 (padding_idx + 1 = 2 is the first real position).
    static let positionOffset = 2

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    let head: LinearWeights
    let embedScale: Float

    public convenience init(config: ModelConfig, weights: WeightStore, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(store: weights, prefixes: ["model.", ""], precision: precision))
    }

    /// A model of `config`'s shape with random weights (benchmarks; nothing is read from disk).
    public convenience init(config: ModelConfig, randomSeed: UInt64, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(randomSeed: randomSeed, precision: precision))
    }

    init(config: ModelConfig, loader: WeightLoader) throws {
        self.config = config
        let d = config.dModel, v = config.vocabSize
        var w = loader
        embedding = try w.loadMatrix("embed_tokens.weight", rows: v, cols: d)
        blocks = try (0..<config.nLayers).map { l in
            let p = "layers.\(l)."
            return Block(attentionNorm: try LayerNormWeights(&w, p + "self_attn_layer_norm", d),
                         qProj: try LinearWeights(&w, p + "self_attn.q_proj", in: d, out: d),
                         kProj: try LinearWeights(&w, p + "self_attn.k_proj", in: d, out: d),
                         vProj: try LinearWeights(&w, p + "self_attn.v_proj", in: d, out: d),
                         outProj: try LinearWeights(&w, p + "self_attn.out_proj", in: d, out: d),
                         mlpNorm: try LayerNormWeights(&w, p + "final_layer_norm", d),
                         fc1: try LinearWeights(&w, p + "fc1", in: d, out: config.dMLP),
                         fc2: try LinearWeights(&w, p + "fc2", in: config.dMLP, out: d))
        }
        finalNorm = try LayerNormWeights(&w, "layer_norm", d)
        head = try w.outputHead(config, embedding: embedding)
        canonicalNames = w.canonical
        embedScale = config.scaleEmbedding ? Float(Double(d).squareRoot()) : 1
    }

    /// tensor2tensor's sinusoid for one position (transformers' `get_embedding`), in fp32 as
    /// torch computes it: [sin(p·f_0…), cos(p·f_0…)] with f_i = exp(-i·ln(10000)/(d/2 − 1)).
    static func sinusoid(position: Int, width: Int, into out: UnsafeMutablePointer<Float>) {
        let half = width / 2
        let step = Float(-log(10000.0) / Double(half - 1))
        for i in 0..<half {
            let angle = Float(position) * expf(Float(i) * step)
            out[i] = sinf(angle)
            out[half + i] = cosf(angle)
        }
        if width % 2 == 1 { out[width - 1] = 0 }
    }

    public func forward(_ batch: [[Int]], caches: [KVCache], request: ForwardRequest) throws -> ForwardResult {
        try validate(batch, caches: caches, config: config)
        try request.interventions.validate(config)
        let d = config.dModel, hd = config.headDim, eps = config.layerNormEps
        let lengths = batch.map(\.count)
        let t = lengths.reduce(0, +)
        let (layers, finalNormNeeded) = layersNeeded(request)
        let work = WorkingCaches(batch, caches, layers: config.nLayers, width: d)
        let kv = work.caches
        for (s, n) in lengths.enumerated() where kv[s].length + n + Self.positionOffset > config.maxPositions + Self.positionOffset {
            throw ForwardError("sequence \(s) reaches position \(kv[s].length + n), past max_position_embeddings \(config.maxPositions)")
        }
        var recorder = SiteRecorder(request)

        let x = FloatBuffer(count: t * d, uninitialized: true), ln = FloatBuffer(count: t * d, uninitialized: true), attn = FloatBuffer(count: t * d, uninitialized: true)
        let q = FloatBuffer(count: t * d, uninitialized: true), context = FloatBuffer(count: t * d, uninitialized: true), pos = FloatBuffer(count: d, uninitialized: true)
        let mlp = FloatBuffer(count: t * config.dMLP, uninitialized: true)

        // Scaled token embeddings plus sinusoidal positions.
        var row = 0
        for (s, ids) in batch.enumerated() {
            for (i, id) in ids.enumerated() {
                let dst = x.pointer + row * d
                embedding.row(id, cols: d, into: dst)
                Self.sinusoid(position: kv[s].length + i + Self.positionOffset, width: d, into: pos.pointer)
                for c in 0..<d { dst[c] = dst[c] * embedScale + pos[c] }
                row += 1
            }
        }
        recorder.visit([.hidden(0), .residPre(0)], x.pointer, rows: t, width: d)

        let scaling = 1 / Float(hd).squareRoot()
        for l in 0..<layers {
            let block = blocks[l]
            block.attentionNorm(x.pointer, ln.pointer, rows: t, eps: eps)
            block.qProj(ln.pointer, q.pointer, rows: t)
            for i in 0..<(t * d) { q[i] *= scaling }
            appendKV(block, ln: ln.pointer, scratch: context.pointer, caches: kv, layer: work.slot(l), lengths: lengths)
            CausalAttention.run(q: q.pointer, caches: kv, layer: work.slot(l), lengths: lengths, heads: config.nHeads, headDim: hd,
                                scale: 1, slopes: nil, out: context.pointer)
            block.outProj(context.pointer, attn.pointer, rows: t)
            recorder.visit([.attnOut(l)], attn.pointer, rows: t, width: d)
            addInPlace(x.pointer, attn.pointer, count: t * d)

            block.mlpNorm(x.pointer, ln.pointer, rows: t, eps: eps)
            block.fc1(ln.pointer, mlp.pointer, rows: t)
            activate(mlp.pointer, count: t * config.dMLP)
            recorder.visit([.mlpPost(l)], mlp.pointer, rows: t, width: config.dMLP)
            block.fc2(mlp.pointer, attn.pointer, rows: t)
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

    /// k_proj and v_proj of the new tokens, appended to each sequence's cache.
    func appendKV(_ block: Block, ln: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, caches: [KVCache],
                  layer: Int, lengths: [Int]) {
        let d = config.dModel
        for (projection, isKey) in [(block.kProj, true), (block.vProj, false)] {
            projection(ln, scratch, rows: lengths.reduce(0, +))
            var row = 0
            for (s, n) in lengths.enumerated() {
                let dst = (isKey ? caches[s].keys[layer] : caches[s].values[layer]).pointer + caches[s].length * d
                dst.update(from: scratch + row * d, count: n * d)
                row += n
            }
        }
    }

    func activate(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch config.activation {
        case "relu": for i in 0..<count { p[i] = max(0, p[i]) }
        case "gelu_new", "gelu_pytorch_tanh": Activation.geluTanh(p, count: count)
        default: Activation.gelu(p, count: count)
        }
    }
}
