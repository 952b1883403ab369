import Digests
import Foundation
import Kernels
import SweepCore

/// What one task's result depends on, as named values: the config fields the task reads, the
/// fingerprints of the checkpoint and data it reads, the input digests of the tasks whose
/// fragments it reads (`input.<task id>`), and a numerics version for code changes that alter
/// results. A fragment records the inputs it was made from; the ledger counts it as done only
/// when they equal the current plan's, so a config edit reruns exactly what it affects.
public struct TaskInputs: Sendable, Equatable {
    public private(set) var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    /// The inputs as canonical text: `key=value` lines in sorted key order.
    var canonical: String { values.keys.sorted().map { "\($0)=\(values[$0]!)\n" }.joined() }

    /// SHA-256 of the canonical text: equal digests, equal inputs.
    public var digest: String {
        var h = SHA256()
        h.update(Array(canonical.utf8))
        return "sha256:" + h.hexDigest()
    }

    /// The inputs as a JSON object (what a fragment stores in its `inputs` attribute).
    public var json: String {
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    public init(json: String) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String] else {
            throw SweepError("recorded inputs are not a JSON object of strings")
        }
        values = object
    }

    /// One key whose value differs between two sets of inputs (nil: absent on that side).
    public struct Change: Sendable, Hashable, Comparable, CustomStringConvertible {
        public let key: String
        public let old: String?
        public let new: String?

        public static func < (a: Change, b: Change) -> Bool { (a.key, a.old ?? "", a.new ?? "") < (b.key, b.old ?? "", b.new ?? "") }

        /// A value as messages show it: digests shortened to 12 hex digits, long values cut.
        static func show(_ v: String?) -> String {
            guard let v else { return "(none)" }
            if v.hasPrefix("sha256:") && v.count > 19 { return String(v.prefix(19)) + "…" }
            return v.count > 60 ? String(v.prefix(57)) + "…" : v
        }

        /// `expertise.k 100 → 150`; digests shortened to 12 hex digits.
        public var description: String { "\(key) \(Self.show(old)) → \(Self.show(new))" }
    }

    /// The keys whose values differ from `recorded` to `self`, in key order.
    public func changes(from recorded: TaskInputs) -> [Change] {
        Set(values.keys).union(recorded.values.keys).sorted().compactMap { key in
            recorded.values[key] == values[key] ? nil : Change(key: key, old: recorded.values[key], new: values[key])
        }
    }
}

/// Versions of the code paths that produce each kind of fragment. Bump one when a change to the
/// code alters that kind's results: every fragment of the kind (and what was computed from it)
/// is then made again rather than mixed with new ones.
public enum NumericsVersion {
    public static func of(_ kind: TaskKind) -> String {
        switch kind {
        case .extract: return "4"   // 3: activation counts for LAPE; 4: own fp32 products (batch_size no longer an input)
        case .probe: return "3"     // 3: own fp32 products
        case .expertise: return "2"
        case .alignment: return "2"
        case .lape: return "1"
        case .generate: return "4"  // 3: own fp32 products; 4: sampling on integer weights, no sort (issue 21)
        case .unforced: return "2"   // 2: sampling on integer weights (issue 21)
        case .lens: return "1"
        }
    }
}

/// What a plan's inputs are computed from, besides the config: fingerprints of what lies on disk.
public struct SweepFingerprints: Sendable, Equatable {
    /// language → SHA-256 of its `<language>.jsonl`.
    public var data: [String: String]
    /// SHA-256 of the data set's lexicon.json ("none" without one).
    public var lexicon: String
    /// checkpoint name → its fingerprints.
    public var checkpoints: [String: CheckpointFingerprint]

    public init(data: [String: String], lexicon: String, checkpoints: [String: CheckpointFingerprint]) {
        self.data = data
        self.lexicon = lexicon
        self.checkpoints = checkpoints
    }
}

/// A checkpoint as the files a worker reads: SHA-256 over config.json and every weight file's
/// bytes (`files`), and of tokenizer.json alone (`tokenizer`, as sweep.h5's provenance shows it).
public struct CheckpointFingerprint: Sendable, Equatable, Hashable {
    public let files: String
    public let tokenizer: String

    public init(files: String, tokenizer: String) {
        self.files = files
        self.tokenizer = tokenizer
    }
}

/// Every task's inputs for one plan, derived from the config and the fingerprints alone (pure):
/// each task's own keys plus the digests of the tasks it reads, so a change anywhere reaches
/// everything computed from it.
public struct PlanInputs: Sendable, Equatable {
    public let inputs: [String: TaskInputs]
    public let digests: [String: String]

    /// One digest for the whole plan: workers compare theirs with the coordinator's.
    public let digest: String

    public init(plan: Plan, config c: SweepConfig, concepts: [String], fingerprints f: SweepFingerprints) {
        var inputs: [String: TaskInputs] = [:], digests: [String: String] = [:]
        let languages = c.languages.joined(separator: ",")
        for task in plan.tasks {
            var t = TaskInputs()
            t["numerics.\(task.kind.rawValue)"] = NumericsVersion.of(task.kind)
            let checkpoint = f.checkpoints[task.checkpoint]
            /// What every generation reads: the model, the sampling settings, and the data its outputs'
            /// language identifier is trained on (every language's probe sentences) and the lexicon.
            func sampling() {
                model()
                t["seed"] = String(c.seed)
                t["languages"] = languages
                for lang in c.languages { t["data.\(lang)"] = f.data[lang] ?? "missing" }
                t["data.lexicon"] = f.lexicon
                t["generation.new_tokens"] = String(c.generation.newTokens)
                t["generation.temperature"] = String(c.generation.temperature)
                t["generation.top_p"] = String(c.generation.topP)
                t["generation.samples"] = String(c.generation.samples)
            }
            func model() {
                t["checkpoint.files"] = checkpoint?.files ?? "unknown"
                t["checkpoint.tokenizer"] = checkpoint?.tokenizer ?? "unknown"
                t["dtype"] = c.dtype.rawValue
            }
            switch task.kind {
            case .extract:
                model()
                t["seed"] = String(c.seed)
                t["probe.tokens_per_language"] = String(c.probe.tokensPerLanguage)
                t["expertise.pooling"] = c.expertise.pooling.rawValue
                // Recorded only when not float32, what every fragment made before the key existed used.
                if c.activationStorage != .float32 { t["activation_storage"] = c.activationStorage.rawValue }
                t["data.\(task.language!)"] = f.data[task.language!] ?? "missing"
            case .probe:
                t["seed"] = String(c.seed)
                t["languages"] = languages
                t["probe.test_fraction"] = String(c.probe.testFraction)
                t["probe.c"] = String(c.probe.c)
                t["probe.seeds"] = String(c.probe.seeds)
                t["probe.max_iterations"] = String(c.probe.maxIterations)
            case .expertise:
                t["expertise.k"] = String(c.expertise.k)
                t["expertise.min_positives"] = String(c.expertise.minPositives)
                t["concepts"] = concepts.joined(separator: ",")
                t["data.\(task.language!)"] = f.data[task.language!] ?? "missing"
            case .alignment:
                t["seed"] = String(c.seed)
                t["languages"] = languages
                t["concepts"] = concepts.joined(separator: ",")
                t["expertise.k"] = String(c.expertise.k)
                t["alignment.permutations"] = String(c.permutations)
            case .lape:
                t["languages"] = languages
                t["lape.top_rate"] = String(c.lape.topRate)
                t["lape.filter_rate"] = String(c.lape.filterRate)
                t["lape.activation_bar_ratio"] = String(c.lape.activationBarRatio)
            case .unforced:
                sampling()
                t["concepts"] = concepts.joined(separator: ",")
                t["generation.concepts"] = c.generation.concepts.joined(separator: ",")
            case .lens:
                // The extraction's probe tokens (and its seed, which drew them), every language's probe
                // text (the token attribution), the final norm and head.
                model()
                t["seed"] = String(c.seed)
                t["probe.tokens_per_language"] = String(c.probe.tokensPerLanguage)
                t["languages"] = languages
                for lang in c.languages { t["data.\(lang)"] = f.data[lang] ?? "missing" }
                t["logit_lens.tokens"] = String(c.logitLens.tokens)
                t["logit_lens.attribution_share"] = String(c.logitLens.attributionShare)
                t["logit_lens.min_occurrences"] = String(c.logitLens.minOccurrences)
            case .generate:
                sampling()
                t["generation.forcing"] = c.generation.forcing.rawValue
                t["generation.controls"] = String(c.generation.controls)
            }
            for dependency in plan.dependencies[task.id] ?? [] { t["input.\(dependency)"] = digests[dependency] }
            inputs[task.id] = t
            digests[task.id] = t.digest
        }
        self.inputs = inputs
        self.digests = digests
        var h = SHA256()
        for task in plan.tasks { h.update(Array("\(task.id) \(digests[task.id]!)\n".utf8)) }
        digest = "sha256:" + h.hexDigest()
    }
}
