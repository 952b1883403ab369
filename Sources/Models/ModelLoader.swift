import Checkpoints
import Foundation
import Kernels
import Tokenization

/// The precision asked for: `auto` keeps fp32 when the widened weights fit in memory, else bf16.
public enum DTypeChoice: String, Sendable, CaseIterable {
    case auto, fp32, bf16
}

/// A checkpoint's files, opened but not built into a model: its config, the weight headers, the
/// tokenizer, and which stored tensors the architecture consumes (from its `WeightTable`). Enough
/// for `inspect`, the parameter count and the weights fingerprint.
public struct CheckpointFiles: Sendable {
    public let directory: String
    public let config: ModelConfig
    public let weights: WeightStore
    public let tokenizer: Tokenizer?
    /// Stored name of every consumed tensor, by canonical name.
    public let canonicalNames: [String: String]

    /// SHA-256 of the consumed tensors' bytes (see `WeightStore.fingerprint`), hashed beside the
    /// rest of the work from open on and remembered per machine (`DigestCache.user`).
    public var fingerprint: String { pendingFingerprint.value }
    let pendingFingerprint: PendingFingerprint

    /// Opens `model` (a directory, or a Hugging Face repo id resolved offline at `revision`).
    /// `tokenizerPath`: a tokenizer.json to use instead of the one beside the weights.
    /// `hashEarly`: start hashing the weights for `fingerprint` at once, beside the rest of the work
    /// (false: when first asked for, for commands that may never need it).
    /// `reusing`: the tokenizer already read from that file (the caller checked its bytes are the
    /// same), taken instead of parsing the file again (a 262k vocabulary takes ≈ 2 s).
    public static func open(_ model: String, revision: String? = nil, tokenizer loadTokenizer: Bool = true,
                            tokenizerPath: String? = nil, hashEarly: Bool = true,
                            reusing known: Tokenizer? = nil) throws -> CheckpointFiles {
        let directory = try ModelLocator.resolve(model, revision: revision)
        let config = try ModelConfig(path: directory + "/config.json")
        let weights = try WeightStore(directory: directory)
        let canonical = try WeightTable.of(config).resolve(in: weights)
        let pending = PendingFingerprint(early: hashEarly) {
            var cache = DigestCache.user("weights-fingerprints.json")
            let value = weights.fingerprint(canonical: canonical, cache: &cache)
            cache.save()
            return value
        }
        let path = tokenizerPath ?? directory + "/tokenizer.json"
        let present = FileManager.default.fileExists(atPath: path)
        if tokenizerPath != nil && !present { throw CheckpointError.fileNotFound(path: path) }
        let tokenizer = loadTokenizer && present ? try known ?? Tokenizer(path: path) : nil
        return CheckpointFiles(directory: directory, config: config, weights: weights, tokenizer: tokenizer,
                               canonicalNames: canonical, pendingFingerprint: pending)
    }

    /// Parameters the architecture consumes (tied head counted once).
    public var parameterCount: Int { canonicalNames.values.reduce(0) { $0 + (weights.tensors[$1]?.count ?? 0) } }

    /// Bytes of the consumed weights once widened to fp32.
    public var fp32Bytes: Int { parameterCount * 4 }
}

/// A checkpoint ready to run: its files and the model built from them.
public struct LoadedModel: Sendable {
    public let files: CheckpointFiles
    public let model: any LanguageModel
    /// How the weight matrices are kept, and one line saying why (for logs).
    public let precision: WeightPrecision
    public let precisionNote: String

    public var directory: String { files.directory }
    public var config: ModelConfig { files.config }
    public var weights: WeightStore { files.weights }
    public var tokenizer: Tokenizer? { files.tokenizer }
    public var fingerprint: String { files.fingerprint }
    public var parameterCount: Int { files.parameterCount }

    /// Opens `model` (see `CheckpointFiles.open`) and builds it in the precision `dtype` resolves to.
    public static func load(_ model: String, revision: String? = nil, tokenizer loadTokenizer: Bool = true,
                            tokenizerPath: String? = nil, dtype: DTypeChoice = .auto, hashEarly: Bool = true,
                            reusing known: Tokenizer? = nil) throws -> LoadedModel {
        let files = try CheckpointFiles.open(model, revision: revision, tokenizer: loadTokenizer, tokenizerPath: tokenizerPath,
                                             hashEarly: hashEarly, reusing: known)
        let (precision, note) = choosePrecision(dtype, fp32Bytes: files.fp32Bytes)
        let network = try build(files.config, weights: files.weights, precision: precision)
        return LoadedModel(files: files, model: network, precision: precision, precisionNote: note)
    }

    /// The model of `config`'s architecture over `weights`.
    public static func build(_ config: ModelConfig, weights: WeightStore, precision: WeightPrecision) throws -> any LanguageModel {
        try architecture(config).init(config: config, weights: weights, precision: precision)
    }

    /// A model of `config`'s shape and architecture with random weights (benchmarks).
    public static func random(_ config: ModelConfig, seed: UInt64, precision: WeightPrecision) throws -> any LanguageModel {
        try architecture(config).init(config: config, randomSeed: seed, precision: precision)
    }

    static func architecture(_ config: ModelConfig) -> any DecoderStack.Type { architecture(config.architecture) }

    /// The file that implements `architecture`.
    static func architecture(_ architecture: Architecture) -> any DecoderStack.Type {
        switch architecture {
        case .bloom: return Bloom.self
        case .xglm: return XGLM.self
        case .gemma3: return Gemma3.self
        case .llama: return Llama.self
        case .gptNeoX: return GPTNeoX.self
        case .olmo2: return OLMo2.self
        }
    }

    /// Resolves `choice` for a model whose weights take `fp32Bytes` widened: `auto` keeps fp32 when
    /// that is at most 80% of the memory available (the rest is for activations and the page cache).
    public static func choosePrecision(_ choice: DTypeChoice, fp32Bytes: Int,
                                       available: Int? = MemoryInfo.availableBytes()) -> (WeightPrecision, String) {
        func gb(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
        let kernels = "bf16 products on \(KernelPath.summary)"
        switch choice {
        case .fp32: return (.fp32, "weights fp32 (--dtype fp32)")
        case .bf16: return (.bf16, "weights bf16 (--dtype bf16); \(kernels)")
        case .auto:
            guard let available else { return (.fp32, "weights fp32 (auto: available memory unknown)") }
            if Double(fp32Bytes) <= 0.8 * Double(available) {
                return (.fp32, "weights fp32 (auto: \(gb(fp32Bytes)) in fp32 fits in \(gb(available)) available)")
            }
            return (.bf16, "weights bf16 (auto: \(gb(fp32Bytes)) in fp32 exceeds 80% of \(gb(available)) available); \(kernels)")
        }
    }
}
