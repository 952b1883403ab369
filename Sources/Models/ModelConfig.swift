import Checkpoints
import Foundation

/// The architectures this tool runs; `config.json`'s `model_type` decides.
public enum Architecture: String, Sendable {
    case bloom, xglm
    case gemma3 = "gemma3_text"
    case llama
    case gptNeoX = "gpt_neox"
    case olmo2
}

/// What the forward pass needs from `config.json`, read in two stages: `model_type` first, then
/// that architecture's keys (with their aliases). Errors name the file and the key.
public struct ModelConfig: Sendable {
    public let architecture: Architecture
    public internal(set) var vocabSize: Int = 0
    public internal(set) var dModel: Int = 0
    public internal(set) var nLayers: Int = 0
    public internal(set) var nHeads: Int = 0
    /// Width of the MLP's hidden layer (the `mlp_post` units per layer).
    public internal(set) var dMLP: Int = 0
    public internal(set) var layerNormEps: Float = 1e-5
    public internal(set) var bosTokenId: Int? = nil
    public internal(set) var eosTokenId: Int? = nil
    public internal(set) var padTokenId: Int? = nil
    /// BLOOM only.
    public internal(set) var residualFromLayerNorm: Bool = false
    /// XGLM only.
    public internal(set) var scaleEmbedding: Bool = false
    public internal(set) var maxPositions: Int = Int.max
    public internal(set) var activation: String = ""
    public internal(set) var tieWordEmbeddings: Bool = false
    /// Width of one attention head (Gemma 3: `head_dim`, not d_model / heads).
    public internal(set) var headDim: Int = 0
    /// Key/value heads (grouped-query attention); = nHeads elsewhere.
    public internal(set) var nKVHeads: Int = 0
    /// Gemma 3 only: per layer, whether it attends within `slidingWindow` positions (local) or to
    /// everything before it (global); the rotary parameters of each kind; the query scale
    /// `query_pre_attn_scalar^-1/2`.
    public internal(set) var slidingLayers: [Bool] = []
    public internal(set) var slidingWindow: Int = 0
    public internal(set) var localRotary: RotaryParameters? = nil
    public internal(set) var globalRotary: RotaryParameters? = nil
    public internal(set) var queryScale: Float? = nil
    /// Llama, GPT-NeoX, OLMo-2: the rotary embedding of every layer.
    public internal(set) var rotary: RotaryParameters? = nil
    /// GPT-NeoX: x + attn(ln₁(x)) + mlp(ln₂(x)) (`use_parallel_residual`) instead of two residual steps.
    public internal(set) var parallelResidual: Bool = false
    /// Biases on q/k/v/o (`attention_bias`) and on the MLP's products (`mlp_bias`).
    public internal(set) var attentionBias: Bool = false
    public internal(set) var mlpBias: Bool = false

    /// Width of a layer's keys (and values) in the KV cache.
    public var kvWidth: Int { nKVHeads * headDim }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CheckpointError.badConfig(path: path, key: "", detail: "not a JSON object")
        }
        try self.init(json: json, path: path)
    }

    public init(json: [String: Any], path: String) throws {
        let j = ConfigJSON(json, path: path)
        guard let type = json["model_type"] as? String else {
            throw CheckpointError.badConfig(path: path, key: "model_type", detail: "missing")
        }
        guard let architecture = Architecture(rawValue: type) else {
            throw CheckpointError.unknownModelType(path: path, modelType: type)
        }
        self.architecture = architecture
        vocabSize = try j.positive(["vocab_size"])
        bosTokenId = json["bos_token_id"] as? Int
        eosTokenId = json["eos_token_id"] as? Int
        padTokenId = json["pad_token_id"] as? Int
        // The rest is the architecture's own (its file reads its keys, with their aliases and defaults).
        try LoadedModel.architecture(architecture).readConfig(j, into: &self)
        if nKVHeads == 0 { nKVHeads = nHeads }
        if let rotary, Int(Double(headDim) * rotary.partialFactor) % 2 != 0 {
            throw CheckpointError.badConfig(path: path, key: "rotary_pct", detail: "the rotated width of a head must be even")
        }
        guard nHeads % nKVHeads == 0 else {
            throw CheckpointError.badConfig(path: path, key: "num_key_value_heads",
                                            detail: "\(nKVHeads) key/value heads do not divide \(nHeads) query heads")
        }
    }
}

/// `config.json` as an architecture reads it: typed keys with aliases and defaults, errors naming
/// the file and the key.
struct ConfigJSON {
    let json: [String: Any]
    let path: String

    init(_ json: [String: Any], path: String) {
        self.json = json
        self.path = path
    }

    subscript(key: String) -> Any? { json[key] }

    func fail(_ key: String, _ detail: String) -> CheckpointError { .badConfig(path: path, key: key, detail: detail) }

    /// The first of `keys` that is an integer, else `value`, else an error naming `keys[0]`.
    func int(_ keys: [String], default value: Int? = nil) throws -> Int {
        for k in keys { if let v = json[k] as? Int { return v } }
        if let value { return value }
        throw fail(keys[0], "missing integer")
    }

    func positive(_ keys: [String], default value: Int? = nil) throws -> Int {
        let v = try int(keys, default: value)
        guard v > 0 else { throw fail(keys[0], "must be > 0, is \(v)") }
        return v
    }

    func double(_ key: String, default value: Double) -> Double { (json[key] as? NSNumber)?.doubleValue ?? value }
    func bool(_ key: String, default value: Bool) -> Bool { json[key] as? Bool ?? value }
    func string(_ key: String, default value: String) -> String { json[key] as? String ?? value }

    /// A string key restricted to `allowed`.
    func choice(_ key: String, default value: String, allowed: [String]) throws -> String {
        let a = json[key] as? String ?? value
        guard allowed.contains(a) else { throw fail(key, "'\(a)' is not supported (\(allowed.joined(separator: ", ")))") }
        return a
    }

    /// d_model / heads, which must divide (`key`: where the heads were read).
    func headWidth(dModel: Int, heads: Int, key: String) throws -> Int {
        guard dModel % heads == 0 else { throw fail(key, "\(heads) heads do not divide width \(dModel)") }
        return dModel / heads
    }
}
