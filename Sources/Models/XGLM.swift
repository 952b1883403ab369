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
public final class XGLM: DecoderStack {
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

    /// Where checkpoints store the weights this file's loading code names (canonical names are prefix-free).
    static let weightPrefixes = ["model.", ""]

    /// config.json's keys (transformers' `XGLMConfig`).
    static func readConfig(_ j: ConfigJSON, into c: inout ModelConfig) throws {
        c.dModel = try j.positive(["d_model", "hidden_size"])
        c.nLayers = try j.positive(["num_layers", "num_hidden_layers"])
        c.nHeads = try j.positive(["attention_heads", "num_attention_heads"])
        c.headDim = try j.headWidth(dModel: c.dModel, heads: c.nHeads, key: "attention_heads")
        c.dMLP = try j.positive(["ffn_dim"])
        c.layerNormEps = 1e-5
        c.scaleEmbedding = j.bool("scale_embedding", default: true)
        c.maxPositions = try j.positive(["max_position_embeddings"], default: 2048)
        c.activation = j.string("activation_function", default: "gelu")
        c.tieWordEmbeddings = j.bool("tie_word_embeddings", default: true)
        guard ["gelu", "relu", "gelu_new", "gelu_pytorch_tanh"].contains(c.activation) else {
            throw j.fail("activation_function", "'\(c.activation)' is not supported")
        }
    }

    public let config: ModelConfig
    public let canonicalNames: [String: String]
    let embedding: MatrixWeights
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    let head: LinearWeights
    let embedScale: Float

    init(config: ModelConfig, loader: WeightLoader) throws {
        self.config = config
        let d = config.dModel, v = config.vocabSize
        var w = loader
        embedding = try w.loadMatrix("embed_tokens.weight", rows: v, cols: d, role: .embedding)
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
        head = try w.outputHead(config, embedding: embedding, tieWhenMissing: true)
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

    struct Scratch {
        let ln, attn, q, k, v, context, mlp: FloatBuffer
    }

    func makeScratch(rows t: Int) -> Scratch {
        let d = config.dModel
        func buffer(_ n: Int) -> FloatBuffer { FloatBuffer(count: n, uninitialized: true) }
        return Scratch(ln: buffer(t * d), attn: buffer(t * d), q: buffer(t * d), k: buffer(t * d), v: buffer(t * d),
                       context: buffer(t * d), mlp: buffer(t * config.dMLP))
    }

    /// Scaled token embeddings plus sinusoidal positions.
    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws {
        let d = config.dModel
        for (s, n) in pass.lengths.enumerated() where pass.caches[s].length + n > config.maxPositions {
            throw ForwardError("sequence \(s) reaches position \(pass.caches[s].length + n), past max_position_embeddings \(config.maxPositions)")
        }
        let pos = FloatBuffer(count: d, uninitialized: true)
        let ids = Array(pass.batch.joined())
        for (row, (_, position)) in pass.positions.enumerated() {
            let dst = x + row * d
            embedding.row(ids[row], cols: d, into: dst)
            Self.sinusoid(position: position + Self.positionOffset, width: d, into: pos.pointer)
            for c in 0..<d { dst[c] = dst[c] * embedScale + pos[c] }
        }
    }

    func block(_ l: Int, _ x: UnsafeMutablePointer<Float>, _ s: Scratch, _ pass: inout ForwardPass) {
        let block = blocks[l], t = pass.rows, d = config.dModel
        let scaling = 1 / Float(config.headDim).squareRoot()
        block.attentionNorm(x, s.ln.pointer, rows: t, eps: config.layerNormEps)
        block.qProj(s.ln.pointer, s.q.pointer, rows: t)
        for i in 0..<(t * d) { s.q[i] *= scaling }
        block.kProj(s.ln.pointer, s.k.pointer, rows: t)
        block.vProj(s.ln.pointer, s.v.pointer, rows: t)
        pass.attend(l, q: s.q.pointer, k: s.k.pointer, v: s.v.pointer, config: config, scale: 1, into: s.context.pointer)
        block.outProj(s.context.pointer, s.attn.pointer, rows: t)
        pass.visit([.attnOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)

        block.mlpNorm(x, s.ln.pointer, rows: t, eps: config.layerNormEps)
        plainMLP(s.ln.pointer, up: block.fc1, down: block.fc2, activation: config.activation,
                 hidden: s.mlp.pointer, out: s.attn.pointer, layer: l, dMLP: config.dMLP, &pass)
        pass.visit([.mlpOut(l)], s.attn.pointer, width: d)
        addInPlace(x, s.attn.pointer, count: t * d)
    }

    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int) { finalNorm(x, x, rows: rows, eps: config.layerNormEps) }
}
