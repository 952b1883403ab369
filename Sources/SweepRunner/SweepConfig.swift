import Checkpoints
import Foundation
import Models
import Probing
import Store
import SweepCore
import Yams

/// A sweep as a researcher writes it in YAML (configs/*.yaml). Every key is optional unless
/// marked required; defaults are the paper's (DESIGN.md §3). Unknown keys are errors.
public struct SweepConfig: Sendable, Equatable {
    /// One checkpoint: a directory, or a Hugging Face repo id + revision found in the local cache.
    public struct Checkpoint: Sendable, Equatable, Hashable {
        public let name: String
        public let path: String?
        public let repo: String?
        public let revision: String?
        /// Where its tokenizer comes from; nil: the tokenizer.json beside its weights.
        public var tokenizer: TokenizerSource?

        public init(name: String, path: String?, repo: String?, revision: String?, tokenizer: TokenizerSource? = nil) {
            self.name = name
            self.path = path
            self.repo = repo
            self.revision = revision
            self.tokenizer = tokenizer
        }

        /// Training step and tokens its name states, else its revision (a series spread over repos
        /// names its checkpoints by repo; a repo's own name is not read: `OLMo-2-0425-1B` states a size).
        public var trainingTime: TrainingTime {
            let byName = TrainingTime(name: name)
            return byName.isKnown ? byName : TrainingTime(name: revision ?? "")
        }
    }

    public struct Probe: Sendable, Equatable {
        public var tokensPerLanguage = 1000
        public var testFraction = 0.2
        public var c = 1.0
        public var seeds = 3
        public var maxIterations = 200
    }

    public enum Pooling: String, Sendable, Equatable { case mean, max }
    public enum Forcing: String, Sendable, Equatable { case onP50 = "on_p50", onP90 = "on_p90", offMean = "off_mean" }

    public struct Expertise: Sendable, Equatable {
        public var pooling = Pooling.mean
        public var k = 500
        /// Concepts to score; empty: every concept of the data set.
        public var concepts: [String] = []
        public var minPositives = 10
    }

    public struct Generation: Sendable, Equatable {
        public var enabled = true
        public var newTokens = 20
        public var temperature = 0.8
        public var topP = 0.9
        public var samples = 100
        public var forcing = Forcing.onP50
        /// Concepts whose experts are forced; empty: every scored concept.
        public var concepts: [String] = []
        /// Draws of random units matched to each cell's experts (layer by layer), forced the same way.
        public var controls = 3
    }

    /// The logit lens per language (Wendler et al. 2024): every layer's hidden state of a seeded
    /// sample of each language's probe tokens read through the model's final norm and head.
    public struct LogitLens: Sendable, Equatable {
        /// Probe tokens per (checkpoint, language) read through the lens; 0: no lens.
        public var tokens = 200
        /// A vocabulary token belongs to a language when at least this share of its occurrences in
        /// the probe text of all sweep languages are in that language …
        public var attributionShare = 0.9
        /// … and it occurs at least this many times.
        public var minOccurrences = 3
    }

    public var file: String
    public var text: String
    public var name: String
    /// Absolute output directory (fragments/, sweep.h5).
    public var output: String
    public var workers: Int
    /// Seconds a worker may stay silent before its task goes to another worker.
    public var leaseSeconds: Double
    /// Tries per task before it is reported failed (the rest of the sweep goes on).
    public var maxAttempts: Int
    /// Seconds a coordinator waits with no worker connected, while work remains, before it gives up.
    public var noWorkerTimeout: Double
    /// Failures in a row (cannot start, cannot load, a task errors) after which a node gets no
    /// more work from a cluster coordinator; 0: never.
    public var maxNodeFailures: Int
    /// Copy the activations into sweep.h5 (the default: the file stands alone), else virtual datasets
    /// read through to the fragments (no copy, but the file then needs `fragments/` beside it).
    public var embedActivations: Bool
    /// How extract fragments keep activations: float32, or float16 (half the disk; results change slightly).
    public var activationStorage: HDF5Writer.FloatStorage
    public var batchSize: Int
    /// Precision of the weight matrices (`dtype: auto|fp32|bf16`; auto keeps fp32 when it fits).
    public var dtype: DTypeChoice
    public var seed: UInt64
    public var checkpoints: [Checkpoint]
    public var languages: [String]
    /// Absolute path of the data set directory.
    public var data: String
    public var probe: Probe
    public var expertise: Expertise
    public var permutations: Int
    public var generation: Generation
    public var logitLens = LogitLens()
    /// LAPE's selection of language-specific neurons (the reference's defaults).
    public var lape = LanguageSpecificNeurons.Options()

    /// Reads and validates `path`; relative paths inside are resolved against the file's directory.
    /// `environment` locates the Hugging Face cache, whose refs `model: {steps}` and `revisions: all` read.
    public init(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, line: nil, key: "", message: "cannot read the file")
        }
        try self.init(text: text, file: path, environment: environment)
    }

    public init(text: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let node: Node
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: nil, key: "", message: "empty config")
            }
            node = n
        } catch let e as ConfigError {
            throw e
        } catch let e as YamlError {
            throw ConfigError(file: file, line: Self.line(of: e), key: "", message: "not valid YAML: \(e)")
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path }

        var root = try ConfigReader(file: file, path: "", node: node)
        self.file = file
        self.text = text
        name = try root.string("name", default: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)
        output = absolute(try root.string("output"))
        workers = try root.int("workers", default: 2, range: 1...4096)
        leaseSeconds = try root.double("lease_seconds", default: 30, range: 1...86_400)
        maxAttempts = try root.int("max_attempts", default: 3, range: 1...100)
        noWorkerTimeout = try root.double("no_worker_timeout", default: 600, range: 1...864_000)
        maxNodeFailures = try root.int("max_node_failures", default: 3, range: 0...10_000)
        embedActivations = try root.bool("embed_activations", default: true)
        activationStorage = HDF5Writer.FloatStorage(rawValue: try root.choice("activation_storage", default: "float32",
                                                                            allowed: HDF5Writer.FloatStorage.allCases.map(\.rawValue)))!
        batchSize = try root.int("batch_size", default: 8, range: 1...4096)
        dtype = DTypeChoice(rawValue: try root.choice("dtype", default: "auto", allowed: DTypeChoice.allCases.map(\.rawValue)))!
        seed = UInt64(try root.int("seed", default: 0))
        languages = try root.strings("languages")
        guard !languages.isEmpty, Set(languages).count == languages.count else {
            throw root.fail("languages", "needs at least one language, each once")
        }
        if let bad = languages.first(where: { $0.isEmpty || $0.contains("/") }) {
            throw root.fail("languages", "'\(bad)' is not a language code (empty or with '/')")
        }
        data = absolute(try root.string("data"))

        let sweepTokenizer = try Self.tokenizerSource(&root, absolute: absolute)

        var checkpoints: [Checkpoint] = []
        if var model = try root.section("model") {
            guard let repos = try model.oneOrMoreStrings("repo"), !repos.isEmpty else { throw model.fail("repo", "missing (required)") }
            let steps = try model.ints("steps")
            if steps != nil && model.mapping["revisions"] != nil { throw model.fail("steps", "give steps or revisions, not both") }
            let selection: Series.Selection
            if model.isScalar("revisions") {
                let all = try model.string("revisions")
                guard all == "all" else { throw model.fail("revisions", "expected a list of revisions, or all") }
                selection = .all
            } else if let revisions = try model.mapping["revisions"] != nil ? model.strings("revisions") : nil {
                selection = .revisions(revisions)
            } else if let steps {
                selection = .steps(steps)
            } else {
                selection = .main
            }
            let key = steps != nil ? "steps" : "revisions"
            let series = Series(repos: repos, selection: selection)
            do {
                checkpoints = try series.checkpoints(refs: Dictionary(uniqueKeysWithValues: repos.map {
                    ($0, ModelLocator.refs($0, environment: environment))
                }))
            } catch {
                throw ConfigError(file: file, line: model.line(key), key: "model." + key, message: "\(error)")
            }
            try model.finish()
        }
        for var entry in try root.sections("checkpoints") ?? [] {
            let path = try entry.optionalString("path")
            let repo = try entry.optionalString("repo")
            let revision = try entry.optionalString("revision")
            guard (path == nil) != (repo == nil) else { throw entry.fail("path", "give either path or repo (+ revision)") }
            let name = try entry.string("name", default: revision ?? URL(fileURLWithPath: path ?? "").lastPathComponent)
            let tokenizer = try Self.tokenizerSource(&entry, absolute: absolute)
            checkpoints.append(Checkpoint(name: name, path: path.map(absolute), repo: repo, revision: revision, tokenizer: tokenizer))
            try entry.finish()
        }
        if let sweepTokenizer {
            for i in checkpoints.indices where checkpoints[i].tokenizer == nil { checkpoints[i].tokenizer = sweepTokenizer }
        }
        guard !checkpoints.isEmpty else { throw root.fail("checkpoints", "no checkpoints (give checkpoints: or model: {repo, revisions})") }
        if let bad = checkpoints.first(where: { $0.name.isEmpty || $0.name.contains("/") }) {
            throw root.fail("checkpoints", "checkpoint name '\(bad.name)' may not be empty or contain '/' (give it a name:)")
        }
        guard Set(checkpoints.map(\.name)).count == checkpoints.count else {
            throw root.fail("checkpoints", "checkpoint names must be unique")
        }
        self.checkpoints = checkpoints

        probe = Probe()
        if var p = try root.section("probe") {
            probe.tokensPerLanguage = try p.int("tokens_per_language", default: probe.tokensPerLanguage, range: 2...10_000_000)
            probe.testFraction = try p.double("test_fraction", default: probe.testFraction, range: 0.01...0.9)
            probe.c = try p.double("c", default: probe.c, range: 1e-12...1e12)
            probe.seeds = try p.int("seeds", default: probe.seeds, range: 1...1000)
            probe.maxIterations = try p.int("max_iterations", default: probe.maxIterations, range: 1...100_000)
            try p.finish()
        }
        expertise = Expertise()
        if var e = try root.section("expertise") {
            expertise.pooling = Pooling(rawValue: try e.choice("pooling", default: "mean", allowed: ["mean", "max"]))!
            expertise.k = try e.int("k", default: expertise.k, range: 1...10_000_000)
            expertise.concepts = try e.strings("concepts", default: [])
            expertise.minPositives = try e.int("min_positives", default: expertise.minPositives, range: 1...1_000_000)
            try e.finish()
        }
        permutations = 20
        if var a = try root.section("alignment") {
            permutations = try a.int("permutations", default: permutations, range: 1...100_000)
            try a.finish()
        }
        if var l = try root.section("lape") {
            lape.topRate = try l.double("top_rate", default: lape.topRate, range: 0...1)
            lape.filterRate = try l.double("filter_rate", default: lape.filterRate, range: 0...1)
            lape.activationBarRatio = try l.double("activation_bar_ratio", default: lape.activationBarRatio, range: 0...1)
            try l.finish()
        }
        generation = Generation()
        if var g = try root.section("generation") {
            generation.enabled = try g.bool("enabled", default: true)
            generation.newTokens = try g.int("new_tokens", default: generation.newTokens, range: 1...100_000)
            generation.temperature = try g.double("temperature", default: generation.temperature, range: 1e-6...100)
            generation.topP = try g.double("top_p", default: generation.topP, range: 1e-6...1)
            generation.samples = try g.int("samples", default: generation.samples, range: 1...1_000_000)
            generation.forcing = Forcing(rawValue: try g.choice("forcing", default: "on_p50",
                                                                allowed: ["on_p50", "on_p90", "off_mean"]))!
            generation.concepts = try g.strings("concepts", default: [])
            generation.controls = try g.int("controls", default: generation.controls, range: 0...100)
            try g.finish()
        }
        if var l = try root.section("logit_lens") {
            logitLens.tokens = try l.int("tokens", default: logitLens.tokens, range: 0...1_000_000)
            logitLens.attributionShare = try l.double("attribution_share", default: logitLens.attributionShare, range: 0.5...1)
            logitLens.minOccurrences = try l.int("min_occurrences", default: logitLens.minOccurrences, range: 1...1_000_000)
            try l.finish()
        }
        try root.finish()
    }

    /// The same sweep writing to `directory` (absolute): its text is rewritten too, since workers
    /// read the text the coordinator sends them, and would otherwise write where it does not look.
    public func writing(to directory: String) throws -> SweepConfig {
        guard let node = try Yams.compose(yaml: text), var mapping = node.mapping else {
            throw ConfigError(file: file, line: nil, key: "", message: "not a mapping")
        }
        mapping["output"] = Node(directory)
        return try SweepConfig(text: try Yams.serialize(node: .mapping(mapping)), file: file)
    }

    /// `tokenizer: {repo, revision}` or `{path}` in `reader`'s mapping; nil when absent.
    static func tokenizerSource(_ reader: inout ConfigReader, absolute: (String) -> String) throws -> TokenizerSource? {
        guard var t = try reader.section("tokenizer") else { return nil }
        let repo = try t.optionalString("repo"), revision = try t.optionalString("revision"), path = try t.optionalString("path")
        try t.finish()
        if let repo, path == nil { return .repo(repo, revision: revision) }
        if let path, repo == nil, revision == nil { return .path(absolute(path)) }
        throw reader.fail("tokenizer", "give either repo (+ revision) or path")
    }

    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }
}
