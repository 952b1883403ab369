import Checkpoints
import Foundation
import Models
import SweepCore

/// A config resolved against the machine, checked before any worker starts: every checkpoint
/// located (offline) with its config.json read and its weight headers checked, every language's
/// data file read, the concepts fixed, and every task's inputs (what its fragment must have been
/// made from to count as done) derived. Weights are not loaded.
public struct ResolvedSweep: Sendable {
    public let config: SweepConfig
    public let directories: [String: String]
    /// Each checkpoint's tokenizer.json: beside its weights, or where its `tokenizer:` says.
    public let tokenizers: [String: String]
    public let modelConfigs: [String: ModelConfig]
    public let concepts: [String]
    /// The concepts whose experts are forced in generation (a subset of `concepts`).
    public let forcedConcepts: [String]
    public let plan: Plan
    public let data: DataSet
    public let fingerprints: SweepFingerprints
    public let inputs: PlanInputs
    /// (language, concept, positives) cells below `expertise.min_positives` (or without
    /// negatives): scored as NaN, with no experts, and not forced.
    public let skipped: [(language: String, concept: String, positives: Int)]

    /// Every checkpoint that cannot be found is reported at once, one line each, and so is every
    /// fault of their files (`CheckpointAudit`: a shard an index names but the disk lacks, a header
    /// that does not read or a truncated file, a Hugging Face blob whose bytes do not hash to its
    /// name). `verify` reads every weight file again instead of trusting the digests remembered under
    /// unchanged stamps. `environment` locates the Hugging Face cache (as for `SweepConfig`).
    public init(_ config: SweepConfig, verify: Bool = false,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        var directories: [String: String] = [:], configs: [String: ModelConfig] = [:], problems: [String] = []
        var tokenizers: [String: String] = [:]
        for c in config.checkpoints {
            do {
                let dir = try c.path ?? ModelLocator.resolve(c.repo ?? "", revision: c.revision, environment: environment)
                if c.path != nil && !FileManager.default.fileExists(atPath: dir) {
                    throw CheckpointError.fileNotFound(path: dir)
                }
                directories[c.name] = dir
                configs[c.name] = try ModelConfig(path: dir + "/config.json")
                let tokenizer = try c.tokenizer?.resolve(environment: environment) ?? dir + "/tokenizer.json"
                guard FileManager.default.fileExists(atPath: tokenizer) else {
                    throw ConfigError(file: config.file, line: nil, key: "tokenizer", message:
                        "\(tokenizer): no such file (a sweep needs each checkpoint's tokenizer; give `tokenizer: {repo, revision}` or `{path}` when it lies elsewhere)")
                }
                tokenizers[c.name] = tokenizer
            } catch {
                problems.append("checkpoint '\(c.name)': \(error)")
            }
        }
        guard problems.isEmpty else {
            throw ConfigError(file: config.file, line: nil, key: "checkpoints", message:
                "\(problems.count) of \(config.checkpoints.count) checkpoints unavailable:\n  " + problems.joined(separator: "\n  "))
        }
        var cache = DigestCache(path: config.output + "/fingerprints.json")
        let audit = CheckpointAudit.audit(config.checkpoints.map { ($0.name, directories[$0.name]!) }, cache: &cache, rehash: verify)
        cache.save()
        guard audit.faults.isEmpty else { throw Self.faulty(audit.faults, duplicates: audit.duplicates, config: config) }
        let data = try DataSet(directory: config.data, languages: config.languages)
        var concepts = config.expertise.concepts
        if concepts.isEmpty {
            guard !data.concepts.isEmpty else {
                throw ConfigError(file: config.file, line: nil, key: "expertise.concepts",
                                  message: "no concepts listed, and \(config.data)/manifest.json does not list them")
            }
            concepts = data.concepts
        }
        if let bad = concepts.first(where: { $0.contains("/") || $0.isEmpty }) {
            throw ConfigError(file: config.file, line: nil, key: "expertise.concepts", message: "concept '\(bad)' may not be empty or contain '/'")
        }
        self.config = config
        self.directories = directories
        self.tokenizers = tokenizers
        modelConfigs = configs
        self.concepts = concepts
        self.data = data
        let forced = config.generation.concepts.isEmpty ? concepts : config.generation.concepts
        if let unknown = forced.first(where: { !concepts.contains($0) }) {
            throw ConfigError(file: config.file, line: nil, key: "generation.concepts",
                              message: "'\(unknown)' is not among the scored concepts (\(concepts.joined(separator: ", ")))")
        }
        self.forcedConcepts = forced
        var skipped: [(String, String, Int)] = []
        for lang in config.languages {
            let pool = data.pool[lang]?.count ?? 0
            for concept in concepts {
                let p = data.positives(concept, in: lang)
                if p < config.expertise.minPositives || p == pool { skipped.append((lang, concept, p)) }
            }
        }
        self.skipped = skipped
        plan = Plan(checkpoints: config.checkpoints.map(\.name), languages: config.languages,
                    layers: configs.mapValues(\.nLayers), concepts: concepts, generation: config.generation.enabled,
                    generationConcepts: forced, lens: config.logitLens.tokens > 0)
        fingerprints = try Fingerprinter.compute(config: config, data: data, directories: directories, tokenizers: tokenizers)
        inputs = PlanInputs(plan: plan, config: config, concepts: concepts, fingerprints: fingerprints)
    }

    /// One error for every fault of the checkpoints' files, one line each; no task runs.
    static func faulty(_ faults: [CheckpointAudit.Fault], duplicates: [[String]], config: SweepConfig) -> ConfigError {
        let checkpoints = Set(faults.map(\.checkpoint)).count
        let same = duplicates.map { "checkpoints \($0.map { "'\($0)'" }.joined(separator: ", ")): byte-identical weights (a duplicated step)" }
        return ConfigError(file: config.file, line: nil, key: "checkpoints", message:
            "\(faults.count) faults in \(checkpoints) of \(config.checkpoints.count) checkpoints; no task runs until they are fixed:\n  "
            + (faults.map(\.description) + same).joined(separator: "\n  "))
    }

    /// The fragments directory (the one place that names it).
    public var fragments: FragmentStore { FragmentStore(directory: config.output + "/fragments") }
}

/// What a plan was derived from, as named fingerprints: a worker compares its own with the
/// coordinator's (sent in `welcome`) and, when they differ, says which and refuses to work.
public struct PlanComponents: Sendable, Equatable {
    public let values: [String: String]

    public init(_ sweep: ResolvedSweep) {
        var v: [String: String] = ["plan": sweep.inputs.digest, "data.lexicon": sweep.fingerprints.lexicon]
        for (lang, f) in sweep.fingerprints.data { v["data.\(lang)"] = f }
        for (name, f) in sweep.fingerprints.checkpoints {
            v["checkpoint.\(name).files"] = f.files
            v["checkpoint.\(name).tokenizer"] = f.tokenizer
        }
        values = v
    }

    public init(json: String) throws { values = try TaskInputs(json: json).values }

    public var json: String { TaskInputs(values).json }

    /// Why a plan made here differs from `theirs`, one clause per differing component (the plan
    /// digest itself last, when nothing else explains it).
    public func differences(from theirs: PlanComponents, here: String = "here", there: String = "at the coordinator") -> [String] {
        let changes = TaskInputs(values).changes(from: TaskInputs(theirs.values)).filter { $0.key != "plan" }
        if !changes.isEmpty {
            return changes.map { c in
                "\(c.key): \(TaskInputs.Change.show(c.new)) \(here), \(TaskInputs.Change.show(c.old)) \(there)"
            }
        }
        return values["plan"] == theirs.values["plan"] ? [] : ["the task graph or config differs (plan digest \(values["plan"] ?? "?") here, "
            + "\(theirs.values["plan"] ?? "?") \(there))"]
    }
}
