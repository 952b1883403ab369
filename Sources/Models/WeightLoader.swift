import Checkpoints
import Kernels

/// Reads an architecture's tensors by canonical name (prefix-free, e.g. `h.0.mlp.dense_4h_to_h.weight`),
/// accepting the prefixes checkpoints use, checking shapes, and remembering what it read.
/// Without a store it makes random weights (uniform ±0.02, LayerNorm gains 1) for benchmarks.
struct WeightLoader {
    let store: WeightStore?
    let prefixes: [String]
    /// How weight matrices (and embeddings) are kept; vectors are always fp32.
    let precision: WeightPrecision
    var random: SplitMix64?
    var canonical: [String: String] = [:]

    init(store: WeightStore, prefixes: [String], precision: WeightPrecision = .fp32) {
        self.store = store
        self.prefixes = prefixes
        self.precision = precision
    }

    init(randomSeed: UInt64, precision: WeightPrecision = .fp32) {
        store = nil
        prefixes = [""]
        self.precision = precision
        random = SplitMix64(seed: randomSeed)
    }

    /// A weight matrix `[rows, cols]` in the loader's precision, used in place (memory-mapped) when
    /// stored in it (fp32 for fp32; bf16 or fp16 for bf16); otherwise widened, or rounded to bf16,
    /// one tensor at a time.
    mutating func loadMatrix(_ name: String, rows: Int, cols: Int) throws -> MatrixWeights {
        switch precision {
        case .fp32:
            if let store {
                // fp32 matrices are used where they lie in the memory map: no copy, no page zeroing.
                let record = try store.record(prefixes.map { $0 + name })
                if record.dtype == .f32, record.shape == [rows, cols], (Int(bitPattern: record.file.bytes) + record.byteOffset) % 4 == 0 {
                    canonical[name] = record.name
                    let base = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: Float.self)
                    return .fp32(FloatBuffer(borrowing: base, count: rows * cols, owner: record.file))
                }
            }
            return .fp32(try load(name, [rows, cols]))
        case .bf16:
            if let store {
                let record = try store.record(prefixes.map { $0 + name })
                if record.dtype == .bf16 || record.dtype == .f16, record.shape == [rows, cols], record.byteOffset % 2 == 0 {
                    canonical[name] = record.name
                    let base = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: UInt16.self)
                    return .half(HalfMatrix(borrowing: base, rows: rows, cols: cols,
                                            format: record.dtype == .f16 ? .fp16 : .bf16, owner: record.file))
                }
            }
            let wide = try load(name, [rows, cols])
            return .half(HalfMatrix(rounding: wide.pointer, rows: rows, cols: cols))
        }
    }

    mutating func load(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
        guard let store else { return randomTensor(name, shape) }
        let record = try store.record(prefixes.map { $0 + name })
        canonical[name] = record.name
        guard record.shape == shape else {
            throw CheckpointError.shapeMismatch(path: record.file.path, tensor: record.name, expected: shape, found: record.shape)
        }
        return FloatBuffer(try record.floats())
    }

    /// The output head: the checkpoint's own untied head `name` (stored without prefix, or under
    /// one of `aliases`: transformers 5 writes GPT-NeoX's `embed_out` as `lm_head`), else the input
    /// embeddings. An untied head that is missing is an error unless `tieWhenMissing` (BLOOM's and
    /// XGLM's files that say untied but carry no head).
    mutating func outputHead(_ config: ModelConfig, embedding: MatrixWeights, name: String = "lm_head", aliases: [String] = [],
                             tieWhenMissing: Bool = false) throws -> LinearWeights {
        guard !config.tieWordEmbeddings else { return LinearWeights(tied: embedding, vocab: config.vocabSize, width: config.dModel) }
        guard let store else {
            return try LinearWeights(&self, name, in: config.dModel, out: config.vocabSize, bias: false)
        }
        let stored = ([name] + aliases).first { store.tensors[$0 + ".weight"] != nil }
        if stored == nil && tieWhenMissing {
            return LinearWeights(tied: embedding, vocab: config.vocabSize, width: config.dModel)
        }
        var top = WeightLoader(store: store, prefixes: [""], precision: precision)
        let head = try LinearWeights(&top, stored ?? name, in: config.dModel, out: config.vocabSize, bias: false)
        canonical[name + ".weight"] = (stored ?? name) + ".weight"
        return head
    }

    mutating func randomTensor(_ name: String, _ shape: [Int]) -> FloatBuffer {
        let count = shape.reduce(1, *)
        let buffer = FloatBuffer(count: count, uninitialized: true)
        canonical[name] = name
        if shape.count == 1 && name.hasSuffix(".weight") {
            buffer.pointer.update(repeating: 1, count: count)
            return buffer
        }
        var rng = random ?? SplitMix64(seed: 0)
        for i in 0..<count { buffer[i] = Float(Int64(bitPattern: rng.next()) >> 11) * 0x1p-52 * 0.02 }
        random = rng
        return buffer
    }
}

/// nn.LayerNorm parameters.
struct LayerNormWeights: Sendable {
    let gamma: FloatBuffer
    let beta: FloatBuffer

    init(_ loader: inout WeightLoader, _ name: String, _ dim: Int) throws {
        gamma = try loader.load(name + ".weight", [dim])
        beta = try loader.load(name + ".bias", [dim])
    }

    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, eps: Float) {
        LayerNorm.forward(x, y, rows: rows, dim: gamma.count, gamma: gamma.pointer, beta: beta.pointer, eps: eps)
    }
}

/// How the forward keeps its weight matrices: fp32 (used in place when stored as fp32, else widened
/// once at load; our fp32 kernels) or bf16 (kept as stored, products bf16 × bf16 → fp32; see `Linear.forward(_:weight: HalfMatrix)`).
public enum WeightPrecision: String, Sendable, CaseIterable {
    case fp32, bf16
}

/// A weight matrix `[rows, cols]`: fp32, or 16-bit (bf16/fp16) for bf16 × bf16 products.
enum MatrixWeights: Sendable {
    case fp32(FloatBuffer)
    case half(HalfMatrix)

    /// Row `r` widened to fp32 (embedding lookup).
    func row(_ r: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .fp32(let m): dst.update(from: m.pointer + r * cols, count: cols)
        case .half(let m): m.row(r, into: dst)
        }
    }
}

/// nn.Linear parameters: weight `[out, in]`, bias `[out]`.
struct LinearWeights: Sendable {
    let weight: MatrixWeights
    let bias: FloatBuffer?
    let inFeatures: Int
    let outFeatures: Int

    init(_ loader: inout WeightLoader, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) throws {
        weight = try loader.loadMatrix(name + ".weight", rows: outFeatures, cols: inFeatures)
        self.bias = bias ? try loader.load(name + ".bias", [outFeatures]) : nil
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    init(weight: MatrixWeights, bias: FloatBuffer?, inFeatures: Int, outFeatures: Int) {
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    init(tied embedding: MatrixWeights, vocab: Int, width: Int) {
        weight = embedding
        bias = nil
        inFeatures = width
        outFeatures = vocab
    }

    /// y `[rows, out]` = x `[rows, in]` · Wᵀ + b
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        switch weight {
        case .fp32(let w):
            Linear.forward(x, rows: rows, inFeatures: inFeatures, weight: w.pointer, bias: bias?.pointer,
                           outFeatures: outFeatures, into: y)
        case .half(let w):
            Linear.forward(x, rows: rows, inFeatures: inFeatures, weight: w, bias: bias?.pointer,
                           outFeatures: outFeatures, into: y)
        }
    }
}

/// Products of one input by several bias-free matrices (Gemma's q/k/v, gate/up). fp32 matrices are
/// concatenated at load and run as one product — one pass over the input instead of several, and
/// the same bits per element (each keeps its K order) — then split; 16-bit ones stay as stored
/// (memory-mapped) and run one by one.
struct FusedLinear: Sendable {
    enum Products: Sendable {
        /// One product with the matrices stacked; the output widths to split it into.
        case fused(LinearWeights, widths: [Int])
        case separate([LinearWeights])
    }

    let products: Products

    init(_ parts: [LinearWeights]) {
        let inFeatures = parts[0].inFeatures
        let fp32 = parts.compactMap { part -> FloatBuffer? in
            if case .fp32(let w) = part.weight, part.bias == nil, part.inFeatures == inFeatures { return w }
            return nil
        }
        guard parts.count > 1, fp32.count == parts.count else {
            products = .separate(parts)
            return
        }
        let widths = parts.map(\.outFeatures)
        let total = widths.reduce(0, +)
        let matrix = FloatBuffer(count: total * inFeatures, uninitialized: true)
        var row = 0
        for (w, width) in zip(fp32, widths) {
            (matrix.pointer + row * inFeatures).update(from: w.pointer, count: width * inFeatures)
            row += width
        }
        products = .fused(LinearWeights(weight: .fp32(matrix), bias: nil, inFeatures: inFeatures, outFeatures: total),
                          widths: widths)
    }

    /// outputs[i] `[rows, width_i]` = x `[rows, in]` · W_iᵀ.
    func callAsFunction(_ x: UnsafePointer<Float>, _ outputs: [UnsafeMutablePointer<Float>], rows: Int) {
        switch products {
        case .separate(let parts):
            for (part, y) in zip(parts, outputs) { part(x, y, rows: rows) }
        case .fused(let stacked, let widths):
            let all = FloatBuffer(count: rows * stacked.outFeatures, uninitialized: true)
            stacked(x, all.pointer, rows: rows)
            var column = 0
            for (width, y) in zip(widths, outputs) {
                for r in 0..<rows { (y + r * width).update(from: all.pointer + r * stacked.outFeatures + column, count: width) }
                column += width
            }
        }
    }
}
