import Checkpoints
import Foundation
import Kernels
import Tokenization

/// The precision asked for: `auto` keeps fp32 when the widened weights fit in memory, else bf16.
public enum DTypeChoice: String, Sendable, CaseIterable {
    case auto, fp32, bf16
}

/// A checkpoint ready to run: its config, weights, model and (if present) tokenizer.
public struct LoadedModel: Sendable {
    public let directory: String
    public let config: ModelConfig
    public let weights: WeightStore
    public let model: any LanguageModel
    public let tokenizer: Tokenizer?
    /// How the weight matrices are kept, and one line saying why (for logs).
    public let precision: WeightPrecision
    public let precisionNote: String

    /// SHA-256 of the consumed tensors' bytes (see `WeightStore.fingerprint`), hashed beside the
    /// rest of the work from load on and remembered per machine (`DigestCache.user`).
    public var fingerprint: String { pendingFingerprint.value }
    let pendingFingerprint: PendingFingerprint

    /// Loads `model` (a directory, or a Hugging Face repo id resolved offline at `revision`).
    /// `hashEarly`: start hashing the weights for `fingerprint` at once, beside the rest of the work
    /// (false: when first asked for, for commands that may never need it).
    public static func load(_ model: String, revision: String? = nil, tokenizer loadTokenizer: Bool = true,
                            dtype: DTypeChoice = .auto, hashEarly: Bool = true) throws -> LoadedModel {
        let directory = try ModelLocator.resolve(model, revision: revision)
        let config = try ModelConfig(path: directory + "/config.json")
        let weights = try WeightStore(directory: directory)
        let (precision, note) = choosePrecision(dtype, fp32Bytes: weights.tensors.values.reduce(0) { $0 + $1.count * 4 })
        let network: any LanguageModel
        switch config.architecture {
        case .bloom: network = try Bloom(config: config, weights: weights, precision: precision)
        case .xglm: network = try XGLM(config: config, weights: weights, precision: precision)
        case .gemma3: network = try Gemma3(config: config, weights: weights, precision: precision)
        }
        let canonical = network.canonicalNames
        let pending = PendingFingerprint(early: hashEarly) {
            var cache = DigestCache.user("weights-fingerprints.json")
            let value = weights.fingerprint(canonical: canonical, cache: &cache)
            cache.save()
            return value
        }
        let tokenizerPath = directory + "/tokenizer.json"
        let tokenizer = loadTokenizer && FileManager.default.fileExists(atPath: tokenizerPath)
            ? try Tokenizer(path: tokenizerPath) : nil
        return LoadedModel(directory: directory, config: config, weights: weights, model: network, tokenizer: tokenizer,
                           precision: precision, precisionNote: note, pendingFingerprint: pending)
    }

    /// Parameters the architecture consumes (tied head counted once).
    public var parameterCount: Int {
        model.canonicalNames.values.reduce(0) { $0 + (weights.tensors[$1]?.count ?? 0) }
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

/// Memory this process may still use: /proc/meminfo's MemAvailable, capped by a cgroup v2 limit.
public enum MemoryInfo {
    public static func availableBytes() -> Int? {
        var best: Int?
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            best = kb * 1024
        }
        let cgroup = "/sys/fs/cgroup/"
        if let maxText = try? String(contentsOfFile: cgroup + "memory.max", encoding: .utf8),
           let limit = Int(maxText.trimmingCharacters(in: .whitespacesAndNewlines)),
           let usedText = try? String(contentsOfFile: cgroup + "memory.current", encoding: .utf8),
           let used = Int(usedText.trimmingCharacters(in: .whitespacesAndNewlines)) {
            best = min(best ?? Int.max, max(0, limit - used))
        }
        return best
    }
}
