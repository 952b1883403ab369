import Checkpoints

/// The weights an architecture consumes: canonical (prefix-free) names and shapes, and the
/// prefixes checkpoints store them under. It is derived from the architecture's loading code (run
/// with a recording loader, `DecoderStack.weightTable`), so names and shapes are written once;
/// with it, `inspect`, the parameter count, the FLOP count and the weights fingerprint know which
/// stored tensors count without loading the model (a test checks it against what models read).
public struct WeightTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        /// Stored without the architecture's prefixes (an untied head at the top level).
        public let topLevel: Bool
        /// May be absent (BLOOM's and XGLM's untied head, which the embeddings then stand in for).
        public let optional: Bool
        /// Other names it may be stored under (GPT-NeoX's `embed_out` as transformers 5 writes it: `lm_head`).
        public var aliases: [String] = []
        /// What the forward does with it: looked up (embeddings), multiplied (a product's matrix,
        /// the head among them), or applied element-wise (norm gains, biases).
        public var role: Role = .elementwise
    }

    public enum Role: Sendable, Equatable { case embedding, product, head, elementwise }

    public let prefixes: [String]
    public private(set) var entries: [Entry] = []

    init(prefixes: [String]) { self.prefixes = prefixes }

    mutating func add(_ name: String, _ shape: [Int], topLevel: Bool = false, optional: Bool = false, aliases: [String] = [],
                      role: Role = .elementwise) {
        entries.append(Entry(name: name, shape: shape, topLevel: topLevel, optional: optional, aliases: aliases, role: role))
    }

    /// The token embeddings `[vocab, dModel]` (looked up; the output head too when tied).
    mutating func embedding(_ name: String, _ c: ModelConfig) {
        add(name, [c.vocabSize, c.dModel])
        entries[entries.count - 1].role = .embedding
    }

    mutating func linear(_ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) {
        add(name + ".weight", [outFeatures, inFeatures])
        entries[entries.count - 1].role = .product
        if bias { add(name + ".bias", [outFeatures]) }
    }

    mutating func layerNorm(_ name: String, _ dim: Int) {
        add(name + ".weight", [dim])
        add(name + ".bias", [dim])
    }

    /// The untied output head `name` (stored at the top level), unless the config ties it.
    mutating func head(_ name: String, _ c: ModelConfig, optional: Bool = false, aliases: [String] = []) {
        guard !c.tieWordEmbeddings else { return }
        add(name, [c.vocabSize, c.dModel], topLevel: true, optional: optional)
        entries[entries.count - 1].aliases = aliases
        entries[entries.count - 1].role = .head
    }

    /// Parameters of every entry (optional ones included): what the model holds in memory.
    public var parameterCount: Int { entries.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// Multiply-adds per token of the dense products, read from the table: the body (every
    /// product matrix of the blocks) and the output head (the untied head, else the embeddings
    /// it is tied to). Embeddings are looked up, not multiplied.
    public var productsPerToken: (body: Int, head: Int) {
        let size = { (e: Entry) in e.shape.reduce(1, *) }
        let body = entries.filter { $0.role == .product }.reduce(0) { $0 + size($1) }
        let head = entries.first { $0.role == .head } ?? entries.first { $0.role == .embedding }
        return (body, head.map(size) ?? 0)
    }

    /// The table of `config`'s architecture.
    public static func of(_ config: ModelConfig) -> WeightTable { LoadedModel.architecture(config).weightTable(config) }

    /// Stored name of every entry in `store`, by canonical name, with shapes checked (an optional
    /// entry the store lacks is left out).
    public func resolve(in store: WeightStore) throws -> [String: String] {
        var out: [String: String] = [:]
        for e in entries {
            let candidates = e.topLevel ? [e.name] + e.aliases : prefixes.map { $0 + e.name }
            if e.optional, candidates.allSatisfy({ store.tensors[$0] == nil }) { continue }
            let record = try store.record(candidates)
            guard record.shape == e.shape else {
                throw CheckpointError.shapeMismatch(path: record.file.path, tensor: record.name, expected: e.shape, found: record.shape)
            }
            out[e.name] = record.name
        }
        return out
    }
}
