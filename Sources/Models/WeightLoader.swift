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
    /// Recording: nothing is read or made; every name and shape the model asks for is written
    /// into this table instead (how an architecture's `WeightTable` is derived from its loading
    /// code, so each name and shape is written once).
    let recorder: TableRecorder?

    /// The table a recording loader fills (a reference: the loader is copied into the model's init).
    final class TableRecorder {
        var table: WeightTable
        init(prefixes: [String]) { table = WeightTable(prefixes: prefixes) }
    }

    init(recording prefixes: [String]) {
        store = nil
        self.prefixes = prefixes
        precision = .fp32
        recorder = TableRecorder(prefixes: prefixes)
    }

    init(store: WeightStore, prefixes: [String], precision: WeightPrecision = .fp32) {
        self.store = store
        self.prefixes = prefixes
        self.precision = precision
        recorder = nil
    }

    init(randomSeed: UInt64, precision: WeightPrecision = .fp32) {
        store = nil
        prefixes = [""]
        self.precision = precision
        random = SplitMix64(seed: randomSeed)
        recorder = nil
    }

    /// A weight matrix `[rows, cols]` in the loader's precision. fp32: packed once into the
    /// product kernel's panels (read from the memory map when stored as fp32, else widened one
    /// tensor at a time), and the file's pages of the tensor handed back to the kernel, so the
    /// process keeps only the packed copy resident. bf16: read in place (memory-mapped) when
    /// stored as bf16 or fp16, else rounded to bf16; then, but for embeddings (whose rows are looked
    /// up) and on AMX hosts, packed once into the bf16 kernel's panels and the file's pages handed back.
    mutating func loadMatrix(_ name: String, rows: Int, cols: Int, role: WeightTable.Role = .product) throws -> MatrixWeights {
        if let recorder {
            recorder.table.add(name, [rows, cols], role: role)
            return .packed(PackedMatrix(rows: 0, cols: cols) { _, _, _ in })
        }
        switch precision {
        case .fp32:
            guard let store else {
                let wide = randomTensor(name, [rows, cols])
                return .packed(PackedMatrix(packing: wide.pointer, rows: rows, cols: cols))
            }
            let record = try store.record(prefixes.map { $0 + name })
            canonical[name] = record.name
            guard record.shape == [rows, cols] else {
                throw CheckpointError.shapeMismatch(path: record.file.path, tensor: record.name, expected: [rows, cols], found: record.shape)
            }
            let packed: PackedMatrix
            if record.dtype == .f32, (Int(bitPattern: record.file.bytes) + record.byteOffset) % 4 == 0 {
                let base = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: Float.self)
                packed = PackedMatrix(packing: base, rows: rows, cols: cols)
            } else if record.dtype == .f16 || record.dtype == .bf16, record.byteOffset % 2 == 0 {
                let base = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: UInt16.self)
                let fp16 = record.dtype == .f16
                packed = PackedMatrix(rows: rows, cols: cols) { first, count, into in
                    if fp16 { Precision.convertFP16(base + first * cols, into, count: count * cols) }
                    else { Precision.convertBF16(base + first * cols, into, count: count * cols) }
                }
            } else {
                let wide = try record.floats()
                packed = wide.withUnsafeBufferPointer { PackedMatrix(packing: $0.baseAddress!, rows: rows, cols: cols) }
            }
            record.file.release(offset: record.byteOffset, count: record.byteCount)
            return .packed(packed)
        case .bf16:
            // Matrices only ever multiplied by are packed into the kernel's panels (same bits);
            // embeddings, whose rows are looked up, stay as stored.
            let pack = role != .embedding && PackedHalfMatrix.isUsable
            if let store {
                let record = try store.record(prefixes.map { $0 + name })
                if record.dtype == .bf16 || record.dtype == .f16, record.shape == [rows, cols], record.byteOffset % 2 == 0 {
                    canonical[name] = record.name
                    let base = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: UInt16.self)
                    let matrix = HalfMatrix(borrowing: base, rows: rows, cols: cols,
                                            format: record.dtype == .f16 ? .fp16 : .bf16, owner: record.file)
                    guard pack else { return .half(matrix) }
                    let packed = PackedHalfMatrix(packing: matrix)
                    record.file.release(offset: record.byteOffset, count: record.byteCount)
                    return .packedHalf(packed)
                }
            }
            let wide = try load(name, [rows, cols])
            let matrix = HalfMatrix(rounding: wide.pointer, rows: rows, cols: cols)
            return pack ? .packedHalf(PackedHalfMatrix(packing: matrix)) : .half(matrix)
        }
    }

    mutating func load(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
        if let recorder {
            recorder.table.add(name, shape)
            return FloatBuffer(count: shape.count == 1 ? shape[0] : 0)   // vectors at size: an init may transform them
        }
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
        if let recorder {
            recorder.table.add(name + ".weight", [config.vocabSize, config.dModel], topLevel: true, optional: tieWhenMissing,
                               aliases: aliases.map { $0 + ".weight" }, role: .head)
            return LinearWeights(tied: embedding, vocab: config.vocabSize, width: config.dModel)
        }
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

/// A weight matrix `[rows, cols]`: fp32 packed for the fp32 product kernels, or 16-bit
/// (bf16/fp16) for bf16 × bf16 products.
enum MatrixWeights: Sendable {
    case packed(PackedMatrix)
    case half(HalfMatrix)
    /// 16-bit, packed for the bf16 product kernels (matrices that are only multiplied by).
    case packedHalf(PackedHalfMatrix)

    /// Row `r` widened to fp32 (embedding lookup).
    func row(_ r: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .packed(let m): m.row(r, into: dst)
        case .half(let m): m.row(r, into: dst)
        case .packedHalf(let m): m.row(r, into: dst)
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

    /// y `[rows, out]` = activation(x `[rows, in]` · Wᵀ + b): packed weights apply the activation
    /// as each tile is finished, others after the product (the same bits).
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, activation: FusedActivation = .none) {
        switch weight {
        case .packed(let w):
            Linear.forward(x, rows: rows, inFeatures: inFeatures, packed: w, bias: bias?.pointer,
                           outFeatures: outFeatures, into: y, activation: activation)
        case .half(let w):
            Linear.forward(x, rows: rows, inFeatures: inFeatures, weight: w, bias: bias?.pointer,
                           outFeatures: outFeatures, into: y)
            activation.apply(y, count: rows * outFeatures)
        case .packedHalf(let w):
            Linear.forward(x, rows: rows, inFeatures: inFeatures, packed: w, bias: bias?.pointer,
                           outFeatures: outFeatures, into: y, activation: activation)
        }
    }
}

/// Products of one input by several bias-free matrices (Gemma's q/k/v, gate/up). Packed matrices
/// (fp32, or bf16 pre-packed) whose rows fill whole 64-row panels are stacked (their panels simply follow one
/// another) and run as one product — one pass over the input instead of several, and the same
/// bits per element (each keeps its K order) — then split; others run one by one.
struct FusedLinear: Sendable {
    enum Products: Sendable {
        /// One product with the matrices stacked; the output widths to split it into.
        case fused(LinearWeights, widths: [Int])
        case separate([LinearWeights])
    }

    let products: Products

    init(_ parts: [LinearWeights]) {
        let inFeatures = parts[0].inFeatures
        let stackable = parts.allSatisfy { $0.bias == nil && $0.inFeatures == inFeatures && $0.outFeatures % 64 == 0 }
        let packed = parts.compactMap { part -> PackedMatrix? in
            if case .packed(let w) = part.weight { return w } else { return nil }
        }
        let packedHalf = parts.compactMap { part -> PackedHalfMatrix? in
            if case .packedHalf(let w) = part.weight { return w } else { return nil }
        }
        let stacked: MatrixWeights
        if parts.count > 1, stackable, packed.count == parts.count {
            stacked = .packed(PackedMatrix(concatenating: packed))
        } else if parts.count > 1, stackable, packedHalf.count == parts.count {
            stacked = .packedHalf(PackedHalfMatrix(concatenating: packedHalf))
        } else {
            products = .separate(parts)
            return
        }
        let widths = parts.map(\.outFeatures)
        products = .fused(LinearWeights(weight: stacked, bias: nil, inFeatures: inFeatures, outFeatures: widths.reduce(0, +)),
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
