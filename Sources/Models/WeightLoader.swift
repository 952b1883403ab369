import Checkpoints
import Kernels

/// Reads an architecture's tensors by canonical name (prefix-free, e.g. `h.0.mlp.dense_4h_to_h.weight`),
/// accepting the prefixes checkpoints use, checking shapes, and remembering what it read.
/// Without a store it makes random weights (uniform ±0.02, LayerNorm gains 1) for benchmarks.
struct WeightLoader {
    let store: WeightStore?
    let prefixes: [String]
    var random: SplitMix64?
    var canonical: [String: String] = [:]

    init(store: WeightStore, prefixes: [String]) {
        self.store = store
        self.prefixes = prefixes
    }

    init(randomSeed: UInt64) {
        store = nil
        prefixes = [""]
        random = SplitMix64(seed: randomSeed)
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

    /// The checkpoint stores its own output head (untied `lm_head.weight`).
    func hasUntiedHead(_ config: ModelConfig) -> Bool {
        !config.tieWordEmbeddings && store?.tensors["lm_head.weight"] != nil
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

/// nn.Linear parameters: weight `[out, in]`, bias `[out]`.
struct LinearWeights: Sendable {
    let weight: FloatBuffer
    let bias: FloatBuffer?
    let inFeatures: Int
    let outFeatures: Int

    init(_ loader: inout WeightLoader, _ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) throws {
        weight = try loader.load(name + ".weight", [outFeatures, inFeatures])
        self.bias = bias ? try loader.load(name + ".bias", [outFeatures]) : nil
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    init(tied embedding: FloatBuffer, vocab: Int, width: Int) {
        weight = embedding
        bias = nil
        inFeatures = width
        outFeatures = vocab
    }

    /// y `[rows, out]` = x `[rows, in]` · Wᵀ + b
    func callAsFunction(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        Linear.forward(x, rows: rows, inFeatures: inFeatures, weight: weight.pointer, bias: bias?.pointer,
                       outFeatures: outFeatures, into: y)
    }
}

/// Shared tail of both architectures: logits of the requested rows through the (tied) head.
func computeLogits(_ selection: LogitsSelection, x: UnsafePointer<Float>, lengths: [Int], width: Int,
                   head: LinearWeights) -> [Float] {
    switch selection {
    case .none:
        return []
    case .allPositions:
        let rows = lengths.reduce(0, +)
        var out = [Float](repeating: 0, count: rows * head.outFeatures)
        out.withUnsafeMutableBufferPointer { head(x, $0.baseAddress!, rows: rows) }
        return out
    case .lastPosition:
        let last = FloatBuffer(count: lengths.count * width, uninitialized: true)
        var row = 0
        for (s, n) in lengths.enumerated() {
            row += n
            (last.pointer + s * width).update(from: x + (row - 1) * width, count: width)
        }
        var out = [Float](repeating: 0, count: lengths.count * head.outFeatures)
        out.withUnsafeMutableBufferPointer { head(last.pointer, $0.baseAddress!, rows: lengths.count) }
        return out
    }
}

/// In-place y += x over `count` floats (residual connections).
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { y[i] += x[i] }
}

/// Checks a batch before a forward: ids inside the vocabulary, caches matching the batch.
func validate(_ batch: [[Int]], caches: [KVCache], config: ModelConfig) throws {
    guard caches.isEmpty || caches.count == batch.count else {
        throw ForwardError("\(caches.count) caches for a batch of \(batch.count)")
    }
    for (s, ids) in batch.enumerated() {
        guard !ids.isEmpty else { throw ForwardError("sequence \(s) of the batch is empty") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ForwardError("sequence \(s): token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
    }
}

/// Caches for a forward: the caller's, or one-layer scratch caches that every layer reuses
/// (a cache-free forward keeps no keys and values beyond the layer being computed).
struct WorkingCaches {
    let caches: [KVCache]
    let persistent: Bool

    init(_ batch: [[Int]], _ caches: [KVCache], layers: Int, width: Int) {
        persistent = !caches.isEmpty
        self.caches = persistent ? caches : batch.map { _ in KVCache(layers: 1, width: width) }
        for (s, c) in self.caches.enumerated() { c.reserve(batch[s].count) }
    }

    /// Index of model layer `layer` in the caches.
    func slot(_ layer: Int) -> Int { persistent ? layer : 0 }

    /// Records the new tokens once every layer has written them.
    func commit(_ lengths: [Int]) {
        if persistent { for (s, c) in caches.enumerated() { c.advance(lengths[s]) } }
    }
}
