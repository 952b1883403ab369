import Checkpoints
import Foundation

/// The architectures this tool runs; `config.json`'s `model_type` decides.
public enum Architecture: String, Sendable {
    case bloom, xglm
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

    public var headDim: Int { dModel / nHeads }

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
        tieWordEmbeddings = json["tie_word_embeddings"] as? Bool ?? true
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
        }
        guard dModel % nHeads == 0 else {
            throw CheckpointError.badConfig(path: path, key: "n_head", detail: "\(nHeads) heads do not divide width \(dModel)")
        }
    }
}
