import Checkpoints
import Foundation
import Tokenization

/// A checkpoint ready to run: its config, weights, model and (if present) tokenizer.
public struct LoadedModel: Sendable {
    public let directory: String
    public let config: ModelConfig
    public let weights: WeightStore
    public let model: any LanguageModel
    public let tokenizer: Tokenizer?

    /// SHA-256 of the consumed tensors' bytes (see `WeightStore.fingerprint`).
    public var fingerprint: String { weights.fingerprint(canonical: model.canonicalNames) }

    /// Loads `model` (a directory, or a Hugging Face repo id resolved offline at `revision`).
    public static func load(_ model: String, revision: String? = nil, tokenizer loadTokenizer: Bool = true) throws -> LoadedModel {
        let directory = try ModelLocator.resolve(model, revision: revision)
        let config = try ModelConfig(path: directory + "/config.json")
        let weights = try WeightStore(directory: directory)
        let network: any LanguageModel
        switch config.architecture {
        case .bloom: network = try Bloom(config: config, weights: weights)
        case .xglm: network = try XGLM(config: config, weights: weights)
        }
        let tokenizerPath = directory + "/tokenizer.json"
        let tokenizer = loadTokenizer && FileManager.default.fileExists(atPath: tokenizerPath)
            ? try Tokenizer(path: tokenizerPath) : nil
        return LoadedModel(directory: directory, config: config, weights: weights, model: network, tokenizer: tokenizer)
    }

    /// Parameters the architecture consumes (tied head counted once).
    public var parameterCount: Int {
        model.canonicalNames.values.reduce(0) { $0 + (weights.tensors[$1]?.count ?? 0) }
    }
}
