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
    public let vocabSize: Int
    public let dModel: Int
    public let nLayers: Int
    public let nHeads: Int
    /// Width of the MLP's hidden layer (the `mlp_post` units per layer).
    public let dMLP: Int
    public let layerNormEps: Float
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    /// BLOOM only.
    public let residualFromLayerNorm: Bool
    /// XGLM only.
    public let scaleEmbedding: Bool
    public let maxPositions: Int
    public let activation: String
    public let tieWordEmbeddings: Bool
    /// Width of one attention head (Gemma 3: `head_dim`, not d_model / heads).
    public let headDim: Int
    /// Key/value heads (grouped-query attention); = nHeads elsewhere.
    public let nKVHeads: Int
    /// Gemma 3 only: per layer, whether it attends within `slidingWindow` positions (local) or to
    /// everything before it (global); the rotary parameters of each kind; the query scale
    /// `query_pre_attn_scalar^-1/2`.
    public let slidingLayers: [Bool]
    public let slidingWindow: Int
    public let localRotary: RotaryParameters?
    public let globalRotary: RotaryParameters?
    public let queryScale: Float?
    /// Llama, GPT-NeoX, OLMo-2: the rotary embedding of every layer.
    public let rotary: RotaryParameters?
    /// GPT-NeoX: x + attn(ln₁(x)) + mlp(ln₂(x)) (`use_parallel_residual`) instead of two residual steps.
    public let parallelResidual: Bool
    /// Biases on q/k/v/o (`attention_bias`) and on the MLP's products (`mlp_bias`).
    public let attentionBias: Bool
    public let mlpBias: Bool

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
        func int(_ keys: [String], default value: Int? = nil) throws -> Int {
            for k in keys { if let v = json[k] as? Int { return v } }
            if let value { return value }
            throw CheckpointError.badConfig(path: path, key: keys[0], detail: "missing integer")
        }
        func positive(_ keys: [String], default value: Int? = nil) throws -> Int {
            let v = try int(keys, default: value)
            guard v > 0 else { throw CheckpointError.badConfig(path: path, key: keys[0], detail: "must be > 0, is \(v)") }
            return v
        }
        guard let type = json["model_type"] as? String else {
            throw CheckpointError.badConfig(path: path, key: "model_type", detail: "missing")
        }
        guard let architecture = Architecture(rawValue: type) else {
            throw CheckpointError.unknownModelType(path: path, modelType: type)
        }
        self.architecture = architecture
        vocabSize = try positive(["vocab_size"])
        bosTokenId = json["bos_token_id"] as? Int
        eosTokenId = json["eos_token_id"] as? Int
        padTokenId = json["pad_token_id"] as? Int
        // transformers' defaults: tied for BLOOM, XGLM and Gemma; untied for Llama, GPT-NeoX and OLMo-2.
        tieWordEmbeddings = json["tie_word_embeddings"] as? Bool ?? [.bloom, .xglm, .gemma3].contains(architecture)
        var slidingLayers: [Bool] = [], slidingWindow = 0, localRotary: RotaryParameters?, globalRotary: RotaryParameters?
        var queryScale: Float?, headDim: Int?, kvHeads: Int?, rotary: RotaryParameters?
        var parallelResidual = false, attentionBias = false, mlpBias = false
        func choice(_ key: String, default value: String, allowed: [String]) throws -> String {
            let a = json[key] as? String ?? value
            guard allowed.contains(a) else {
                throw CheckpointError.badConfig(path: path, key: key, detail: "'\(a)' is not supported (\(allowed.joined(separator: ", ")))")
            }
            return a
        }
        switch architecture {
        case .bloom:
            dModel = try positive(["hidden_size", "n_embed"])
            nLayers = try positive(["n_layer", "num_hidden_layers"])
            nHeads = try positive(["n_head", "num_attention_heads"])
            dMLP = 4 * dModel
            layerNormEps = Float((json["layer_norm_epsilon"] as? NSNumber)?.doubleValue ?? 1e-5)
            residualFromLayerNorm = json["apply_residual_connection_post_layernorm"] as? Bool ?? false
            scaleEmbedding = false
            maxPositions = Int.max
            activation = "bloom_gelu"
            if (json["pretraining_tp"] as? Int ?? 1) > 1 && (json["slow_but_exact"] as? Bool ?? false) {
                throw CheckpointError.badConfig(path: path, key: "slow_but_exact",
                                                detail: "tensor-parallel slicing of dense products is not supported")
            }
        case .xglm:
            dModel = try positive(["d_model", "hidden_size"])
            nLayers = try positive(["num_layers", "num_hidden_layers"])
            nHeads = try positive(["attention_heads", "num_attention_heads"])
            dMLP = try positive(["ffn_dim"])
            layerNormEps = 1e-5
            residualFromLayerNorm = false
            scaleEmbedding = json["scale_embedding"] as? Bool ?? true
            maxPositions = try positive(["max_position_embeddings"], default: 2048)
            activation = json["activation_function"] as? String ?? "gelu"
            guard ["gelu", "relu", "gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
                throw CheckpointError.badConfig(path: path, key: "activation_function", detail: "'\(activation)' is not supported")
            }
        case .gemma3:
            dModel = try positive(["hidden_size"])
            nLayers = try positive(["num_hidden_layers"])
            nHeads = try positive(["num_attention_heads"])
            kvHeads = try positive(["num_key_value_heads"], default: nHeads)
            headDim = try positive(["head_dim"], default: 256)
            dMLP = try positive(["intermediate_size"])
            layerNormEps = Float((json["rms_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-6)
            residualFromLayerNorm = false
            scaleEmbedding = true
            maxPositions = try positive(["max_position_embeddings"], default: 32768)
            activation = json["hidden_activation"] as? String ?? "gelu_pytorch_tanh"
            guard activation == "gelu_pytorch_tanh" else {
                throw CheckpointError.badConfig(path: path, key: "hidden_activation", detail: "'\(activation)' is not supported (gelu_pytorch_tanh)")
            }
            for key in ["attn_logit_softcapping", "final_logit_softcapping"] where !(json[key] == nil || json[key] is NSNull) {
                throw CheckpointError.badConfig(path: path, key: key, detail: "soft-capping is not supported (Gemma 3 sets it to null)")
            }
            slidingWindow = try positive(["sliding_window"], default: 512)
            if let types = json["layer_types"] as? [String] {
                guard types.count == nLayers, types.allSatisfy({ $0 == "sliding_attention" || $0 == "full_attention" }) else {
                    throw CheckpointError.badConfig(path: path, key: "layer_types",
                                                    detail: "expected \(nLayers) of sliding_attention/full_attention")
                }
                slidingLayers = types.map { $0 == "sliding_attention" }
            } else {
                let pattern = try positive(["sliding_window_pattern", "_sliding_window_pattern"], default: 6)
                slidingLayers = (0..<nLayers).map { ($0 + 1) % pattern != 0 }
            }
            (localRotary, globalRotary) = try Self.gemmaRotary(json, path: path)
            queryScale = Float(pow((json["query_pre_attn_scalar"] as? NSNumber)?.doubleValue ?? Double(headDim ?? 256), -0.5))
        case .llama, .olmo2:
            dModel = try positive(["hidden_size"])
            nLayers = try positive(["num_hidden_layers"])
            nHeads = try positive(["num_attention_heads"])
            kvHeads = try positive(["num_key_value_heads"], default: nHeads)
            headDim = architecture == .llama && json["head_dim"] != nil ? try positive(["head_dim"]) : nil
            dMLP = try positive(["intermediate_size"])
            layerNormEps = Float((json["rms_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-6)
            residualFromLayerNorm = false
            scaleEmbedding = false
            maxPositions = try positive(["max_position_embeddings"], default: 2048)
            activation = try choice("hidden_act", default: "silu", allowed: ["silu"])
            attentionBias = json["attention_bias"] as? Bool ?? false
            mlpBias = architecture == .llama ? json["mlp_bias"] as? Bool ?? false : false
            rotary = try RotaryParameters.read(json, path: path, defaultTheta: 10_000, maxPositions: maxPositions)
        case .gptNeoX:
            dModel = try positive(["hidden_size"])
            nLayers = try positive(["num_hidden_layers"])
            nHeads = try positive(["num_attention_heads"])
            dMLP = try positive(["intermediate_size"], default: 4 * dModel)
            layerNormEps = Float((json["layer_norm_eps"] as? NSNumber)?.doubleValue ?? 1e-5)
            residualFromLayerNorm = false
            scaleEmbedding = false
            maxPositions = try positive(["max_position_embeddings"], default: 2048)
            activation = try choice("hidden_act", default: "gelu", allowed: ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"])
            parallelResidual = json["use_parallel_residual"] as? Bool ?? true
            attentionBias = json["attention_bias"] as? Bool ?? true
            mlpBias = true
            rotary = try RotaryParameters.read(json, path: path, defaultTheta: 10_000, thetaKeys: ["rotary_emb_base"],
                                               partialFactor: (json["rotary_pct"] as? NSNumber)?.doubleValue ?? 0.25,
                                               maxPositions: maxPositions)
        }
        if headDim == nil {
            guard dModel % nHeads == 0 else {
                let key = architecture == .bloom ? "n_head" : architecture == .xglm ? "attention_heads" : "num_attention_heads"
                throw CheckpointError.badConfig(path: path, key: key, detail: "\(nHeads) heads do not divide width \(dModel)")
            }
        }
        self.headDim = headDim ?? dModel / nHeads
        nKVHeads = kvHeads ?? nHeads
        self.slidingLayers = slidingLayers
        self.slidingWindow = slidingWindow
        self.localRotary = localRotary
        self.globalRotary = globalRotary
        self.queryScale = queryScale
        self.rotary = rotary
        self.parallelResidual = parallelResidual
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        if let rotary, Int(Double(self.headDim) * rotary.partialFactor) % 2 != 0 {
            throw CheckpointError.badConfig(path: path, key: "rotary_pct", detail: "the rotated width of a head must be even")
        }
        guard nHeads % nKVHeads == 0 else {
            throw CheckpointError.badConfig(path: path, key: "num_key_value_heads",
                                            detail: "\(nKVHeads) key/value heads do not divide \(nHeads) query heads")
        }
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
}
