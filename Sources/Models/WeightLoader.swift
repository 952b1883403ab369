import Checkpoints
import Kernels

/// Reads an architecture's tensors by canonical name (prefix-free, e.g. `h.0.mlp.dense_4h_to_h.weight`),
/// accepting the prefixes checkpoints use, checking shapes, and remembering what it read.
struct WeightLoader {
    let store: WeightStore
    let prefixes: [String]
    var canonical: [String: String] = [:]

    init(store: WeightStore, prefixes: [String]) {
        self.store = store
        self.prefixes = prefixes
    }

    mutating func load(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
        let record = try store.record(prefixes.map { $0 + name })
        canonical[name] = record.name
        guard record.shape == shape else {
            throw CheckpointError.shapeMismatch(path: record.file.path, tensor: record.name, expected: shape, found: record.shape)
        }
        return FloatBuffer(try record.floats())
    }

    func has(_ name: String) -> Bool { prefixes.contains { store.tensors[$0 + name] != nil } }
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
        let last = FloatBuffer(count: lengths.count * width)
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

/// Caches for a forward: the caller's, or fresh ones that live for this call only.
func workingCaches(_ batch: [[Int]], _ caches: [KVCache], layers: Int, width: Int) -> [KVCache] {
    let used = caches.isEmpty ? batch.map { _ in KVCache(layers: layers, width: width) } : caches
    for (s, c) in used.enumerated() { c.reserve(batch[s].count) }
    return used
}
