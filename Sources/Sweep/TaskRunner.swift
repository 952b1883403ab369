import Foundation
import Kernels
import Models
import Probing
import Store
import Tokenization

/// Runs one task of a sweep and writes its fragment. A worker keeps the last checkpoint it loaded
/// (the coordinator prefers giving it more work on that checkpoint).
public final class TaskRunner {
    public let sweep: ResolvedSweep
    public let data: DataSet
    public let fragments: String
    /// The checkpoint in memory, with its weights and tokenizer fingerprints (hashed once per load).
    var loaded: (name: String, model: LoadedModel, weights: String, tokenizer: String)?
    var identifier: LanguageIdentifier?
    /// Where the runner says which precision and kernels each checkpoint got.
    public var log: (String) -> Void = { _ in }

    public init(sweep: ResolvedSweep) throws {
        self.sweep = sweep
        data = try DataSet(directory: sweep.config.data, languages: sweep.config.languages)
        fragments = sweep.config.output + "/fragments"
    }

    /// The checkpoint currently in memory, if any.
    public var heldCheckpoint: String? { loaded?.name }

    func model(_ checkpoint: String) throws -> LoadedModel {
        if let l = loaded, l.name == checkpoint { return l.model }
        loaded = nil
        guard let dir = sweep.directories[checkpoint] else { throw SweepError("unknown checkpoint '\(checkpoint)'") }
        let m = try LoadedModel.load(dir, dtype: sweep.config.dtype)
        log("\(checkpoint): \(m.precisionNote)")
        guard m.tokenizer != nil else { throw SweepError("\(dir): no tokenizer.json") }
        loaded = (checkpoint, m, m.fingerprint, try Fragment.sha256(ofFile: dir + "/tokenizer.json"))
        return m
    }

    func fragmentPath(_ id: String) -> String { fragments + "/" + Fragment.fileName(task: id) }

    public func run(_ task: SweepTask) throws {
        let seed = task.seed(sweepSeed: sweep.config.seed)
        switch task.kind {
        case .extract: try extract(task, seed: seed)
        case .probe: try probe(task, seed: seed)
        case .expertise: try expertise(task)
        case .alignment: try alignment(task, seed: seed)
        case .generate: try generate(task, seed: seed)
        }
    }

    /// Token ids without the tokenizer's special tokens (BOS-like tokens are not probed or pooled).
    func encode(_ text: String, _ tokenizer: Tokenizer) -> (ids: [Int], keep: [Bool]) {
        let ids = tokenizer.encode(text)
        let special = tokenizer.specialTokenIDs
        return (ids, ids.map { !special.contains($0) })
    }

    /// Forward passes over `texts` in batches: per sequence, per site, the kept tokens' rows.
    func activations(_ texts: [String], sites: [HookSite], model m: LoadedModel,
                     _ body: (Int, [HookSite: [Float]], Int) throws -> Void) throws {
        let tokenizer = m.tokenizer!
        let encoded = texts.map { encode($0, tokenizer) }
        let batch = sweep.config.batchSize
        var start = 0
        while start < texts.count {
            let indices = Array(start..<min(texts.count, start + batch)).filter { !encoded[$0].ids.isEmpty }
            start += batch
            if indices.isEmpty { continue }
            let out = try m.model.forward(indices.map { encoded[$0].ids }, request: ForwardRequest(sites: Set(sites)))
            var row = 0
            for (b, index) in indices.enumerated() {
                let keep = encoded[index].keep
                var rows: [HookSite: [Float]] = [:]
                for site in sites {
                    let width = site.width(m.config)
                    guard let packed = out.activations[site] else { continue }
                    var kept: [Float] = []
                    kept.reserveCapacity(keep.count * width)
                    for (t, k) in keep.enumerated() where k {
                        kept.append(contentsOf: packed[((row + t) * width)..<((row + t + 1) * width)])
                    }
                    rows[site] = kept
                }
                row += out.lengths[b]
                try body(index, rows, keep.filter { $0 }.count)
            }
        }
    }

    // MARK: extract (checkpoint, language)

    func extract(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let lang = task.language!
        let n = m.config.nLayers
        let hidden = (0...n).map { HookSite.hidden($0) }
        // Probe tokens: every kept token of the probe sentences, then a seeded sample.
        var tokens: [[Float]] = Array(repeating: [], count: n + 1)
        var count = 0
        try activations(data.probe[lang] ?? [], sites: hidden, model: m) { _, rows, kept in
            for (l, site) in hidden.enumerated() { tokens[l] += rows[site]! }
            count += kept
        }
        let wanted = sweep.config.probe.tokensPerLanguage
        guard count >= 2 else { throw SweepError("language \(lang): fewer than 2 probe tokens") }
        var rng = SplitMix64(seed: seed)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let chosen = order.prefix(min(wanted, count)).sorted()
        // Concept pool: pooled MLP activations of every layer.
        let mlp = (0..<n).map { HookSite.mlpPost($0) }
        let sentences = data.pool[lang] ?? []
        var pooled: [[Float]] = Array(repeating: [], count: n)
        let pooling: Pooling = sweep.config.expertise.pooling == .mean ? .mean : .max
        var used: [Int] = []
        try activations(sentences.map(\.text), sites: mlp, model: m) { index, rows, kept in
            guard kept > 0 else { return }
            used.append(index)
            for (l, site) in mlp.enumerated() {
                pooled[l] += try pooling.pool(rows[site]!, lengths: [kept], units: m.config.dMLP)
            }
        }
        let concepts = sweep.concepts
        var labels: [Int32] = []
        for i in used { for c in concepts { labels.append(sentences[i].concepts.contains(c) ? 1 : 0) } }
        try Fragment.write(task: task.id, directory: fragments) { w in
            try w.createGroup("probe")
            for (l, rows) in tokens.enumerated() {
                let d = m.config.dModel
                let sample = chosen.flatMap { rows[($0 * d)..<(($0 + 1) * d)] }
                try w.write("probe/hidden.\(l)", floats: sample, shape: [chosen.count, d], chunk: [256, d])
            }
            try w.createGroup("pooled")
            for (l, rows) in pooled.enumerated() {
                try w.write("pooled/blocks.\(l).mlp_post", floats: rows, shape: [used.count, m.config.dMLP],
                            chunk: [64, m.config.dMLP])
            }
            try w.write("concept_labels", ints: labels, shape: [used.count, concepts.count])
            try w.setAttribute("weights_fingerprint", loaded?.weights ?? m.fingerprint)
            try w.setAttribute("tokenizer_fingerprint", loaded?.tokenizer ?? "")
            try w.setAttribute("weights_precision", m.precision.rawValue)
            try w.setAttribute("product_kernels", m.precision == .bf16 ? "bf16 \(KernelPath.active) (\(KernelPath.active.numerics) numerics)"
                                                                       : "fp32 OpenBLAS \(BLASCore.name)")
        }
    }

    // MARK: probe (checkpoint, layer)

    func probe(_ task: SweepTask, seed: UInt64) throws {
        let layer = task.layer!
        var features: [Float] = [], labels: [Int] = []
        for (li, lang) in sweep.config.languages.enumerated() {
            let r = try HDF5Reader(path: fragmentPath("extract/\(task.checkpoint)/\(lang)"))
            let rows = try r.floats("probe/hidden.\(layer)")
            features += rows.values
            labels += [Int](repeating: li, count: rows.shape[0])
        }
        let p = sweep.config.probe
        let seeds = (0..<p.seeds).map { seed &+ UInt64($0) }
        let result = try LanguageProbe.run(features: features, labels: labels, classes: sweep.config.languages.count,
                                           seeds: seeds, testFraction: p.testFraction,
                                           options: .init(c: p.c, maxIterations: p.maxIterations))
        let k = sweep.config.languages.count
        try Fragment.write(task: task.id, directory: fragments) { w in
            try w.write("accuracy", doubles: result.accuracies, shape: [seeds.count])
            try w.write("confusion", ints: result.results.flatMap { $0.confusion.flatMap { $0.map(Int32.init) } },
                        shape: [seeds.count, k, k])
            try w.write("iterations", ints: result.results.map { Int32($0.iterations) }, shape: [seeds.count])
            try w.write("converged", ints: result.results.map { $0.converged ? 1 : 0 }, shape: [seeds.count])
        }
    }

    // MARK: expertise (checkpoint, language)

    func pool(_ checkpoint: String, _ lang: String) throws -> (SentencePool, labels: [Int64], shape: [Int]) {
        let r = try HDF5Reader(path: fragmentPath("extract/\(checkpoint)/\(lang)"))
        let n = sweep.modelConfigs[checkpoint]!.nLayers
        let labels = try r.ints("concept_labels")
        let sentences = labels.shape[0]
        let layers = try (0..<n).map { l in (layer: l, activations: try r.floats("pooled/blocks.\(l).mlp_post").values) }
        return (try SentencePool(sentences: sentences, layers: layers), labels.values, labels.shape)
    }

    func expertise(_ task: SweepTask) throws {
        let (pool, labels, shape) = try self.pool(task.checkpoint, task.language!)
        let concepts = sweep.concepts
        let k = sweep.config.expertise.k
        let units = pool.layerSizes.reduce(0, +)
        var positives: [Int32] = [], ap: [Float] = [], p50: [Float] = [], p90: [Float] = [], off: [Float] = []
        var experts: [Int64] = []
        for (c, concept) in concepts.enumerated() {
            let pos = (0..<shape[0]).filter { labels[$0 * shape[1] + c] == 1 }
            positives.append(Int32(pos.count))
            if pos.count < sweep.config.expertise.minPositives || pos.count == shape[0] {
                ap += [Float](repeating: .nan, count: units)
                p50 += [Float](repeating: .nan, count: units)
                p90 += [Float](repeating: .nan, count: units)
                off += [Float](repeating: .nan, count: units)
                experts += [Int64](repeating: -1, count: k)
                continue
            }
            let e = try pool.expertise(positives: pos, concept: concept)
            ap += e.averagePrecision.map(Float.init)
            p50 += e.onP50.map(Float.init)
            p90 += e.onP90.map(Float.init)
            off += e.offMean.map(Float.init)
            let top = e.top(k).map { Int64(e.index(of: $0)!) }
            experts += top + [Int64](repeating: -1, count: k - top.count)
        }
        try Fragment.write(task: task.id, directory: fragments) { w in
            try w.write("positives", ints: positives, shape: [concepts.count])
            for (name, values) in [("ap", ap), ("on_p50", p50), ("on_p90", p90), ("off_mean", off)] {
                try w.write(name, floats: values, shape: [concepts.count, units], chunk: [1, units])
            }
            try w.write("experts", int64s: experts, shape: [concepts.count, k])
            try w.write("layer_sizes", int64s: pool.layerSizes.map(Int64.init), shape: [pool.layerSizes.count])
        }
    }

    // MARK: alignment (checkpoint)

    func alignment(_ task: SweepTask, seed: UInt64) throws {
        let langs = sweep.config.languages, concepts = sweep.concepts
        let k = sweep.config.expertise.k
        var ap: [[Float]] = [], experts: [[Int64]] = [], sizes: [Int] = [], positives: [[Int32]] = []
        for lang in langs {
            let r = try HDF5Reader(path: fragmentPath("expertise/\(task.checkpoint)/\(lang)"))
            ap.append(try r.floats("ap").values)
            experts.append(try r.ints("experts").values)
            positives.append(try r.ints("positives").values.map(Int32.init))
            sizes = try r.ints("layer_sizes").values.map(Int.init)
        }
        let units = sizes.reduce(0, +)
        func unitID(_ flat: Int64) -> UnitID {
            var i = Int(flat)
            for (l, s) in sizes.enumerated() { if i < s { return UnitID(layer: l, unit: i) }; i -= s }
            return UnitID(layer: sizes.count, unit: i)
        }
        let L = langs.count, C = concepts.count, layers = sizes.count
        var overlap = [Float](repeating: .nan, count: C * L * L), chance = overlap, cross = overlap, baseline = overlap
        var perLayer = [Float](repeating: .nan, count: C * layers * L * L), chancePerLayer = perLayer
        var pools: [Int: SentencePool] = [:]
        let layerSizes = Dictionary(uniqueKeysWithValues: sizes.enumerated().map { ($0, $1) })
        // Null draws per (concept, target language), shared by every source language.
        var draws: [Int: [[Double]]] = [:]
        func null(_ c: Int, _ b: Int) throws -> [[Double]] {
            let key = c * L + b
            if let d = draws[key] { return d }
            if pools[b] == nil { pools[b] = try pool(task.checkpoint, langs[b]).0 }
            let d = try Alignment.permutedAveragePrecision(pool: pools[b]!, positives: Int(positives[b][c]),
                                                           permutations: sweep.config.permutations, seed: seed &+ UInt64(key))
            draws[key] = d
            return d
        }
        for c in 0..<C {
            for a in 0..<L {
                let ea = experts[a][(c * k)..<((c + 1) * k)].filter { $0 >= 0 }.map(unitID)
                if ea.isEmpty { continue }
                for b in 0..<L {
                    let eb = experts[b][(c * k)..<((c + 1) * k)].filter { $0 >= 0 }.map(unitID)
                    if eb.isEmpty { continue }
                    let i = (c * L + a) * L + b
                    let o = Alignment.overlap(ea, eb, k: k)
                    overlap[i] = Float(o.overall)
                    for l in 0..<layers { perLayer[((c * layers + l) * L + a) * L + b] = Float(o.perLayer[l] ?? 0) }
                    let expected = Alignment.chanceOverlap(ea, eb, k: k, layerSizes: layerSizes)
                    chance[i] = Float(expected.overall)
                    for l in 0..<layers { chancePerLayer[((c * layers + l) * L + a) * L + b] = Float(expected.perLayer[l] ?? 0) }
                    let apB = ap[b][(c * units)..<((c + 1) * units)]
                    cross[i] = Float(ea.map { Double(apB[apB.startIndex + Int(flatIndex($0, sizes))]) }.reduce(0, +) / Double(ea.count))
                    baseline[i] = Float(Alignment.permutationBaseline(experts: ea, draws: try null(c, b), layerSizes: sizes,
                                                                      layers: Array(0..<layers)))
                }
            }
        }
        try Fragment.write(task: task.id, directory: fragments) { w in
            try w.write("overlap", floats: overlap, shape: [C, L, L])
            try w.write("overlap_per_layer", floats: perLayer, shape: [C, layers, L, L])
            try w.write("chance_overlap_per_layer", floats: chancePerLayer, shape: [C, layers, L, L])
            try w.write("chance_overlap", floats: chance, shape: [C, L, L])
            try w.write("cross_ap", floats: cross, shape: [C, L, L])
            try w.write("cross_ap_baseline", floats: baseline, shape: [C, L, L])
        }
    }

    // MARK: generate (checkpoint, concept, language)

    func generate(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let tokenizer = m.tokenizer!
        let c = sweep.concepts.firstIndex(of: task.concept!)!
        let k = sweep.config.expertise.k
        let r = try HDF5Reader(path: fragmentPath("expertise/\(task.checkpoint)/\(task.language!)"))
        let experts = try r.ints("experts").values[(c * k)..<((c + 1) * k)].filter { $0 >= 0 }
        let sizes = try r.ints("layer_sizes").values.map(Int.init)
        let units = sizes.reduce(0, +)
        let forcingName = sweep.config.generation.forcing.rawValue
        let values = try r.floats(forcingName).values[(c * units)..<((c + 1) * units)]
        var forced: [HookSite: [(unit: Int, value: Float)]] = [:]
        for flat in experts {
            var i = Int(flat), layer = 0
            while i >= sizes[layer] { i -= sizes[layer]; layer += 1 }
            forced[.mlpPost(layer), default: []].append((i, values[values.startIndex + Int(flat)]))
        }
        let g = sweep.config.generation
        let start = tokenizer.encode("")
        let prompt = start.isEmpty ? [m.config.bosTokenId ?? 0] : start
        let lid = try languageIdentifier()
        var texts: [String] = [], languages: [Int32] = [], present: [Int32] = []
        let lexicon = ConceptLexicon(forms: data.lexicon[task.concept!] ?? [:])
        // All samples advance together (one forward per token over the batch); sample s uses seed + s.
        let samples = try Generator(model: m.model).generate(
            prompt: prompt, maxNewTokens: g.newTokens, sampling: SamplingOptions(temperature: g.temperature, topP: g.topP),
            seeds: (0..<g.samples).map { seed &+ UInt64($0) }, interventions: Interventions(forced))
        for ids in samples {
            let text = tokenizer.decode(ids)
            let id = lid.identify(text)
            texts.append(text)
            languages.append(id.language.flatMap { sweep.config.languages.firstIndex(of: $0) }.map(Int32.init) ?? -1)
            present.append(id.language.map { lexicon.isPresent(in: text, language: $0) ? 1 : 0 } ?? 0)
        }
        try Fragment.write(task: task.id, directory: fragments) { w in
            try w.write("text", strings: texts)
            try w.write("language", ints: languages, shape: [g.samples])
            try w.write("concept_present", ints: present, shape: [g.samples])
            try w.write("forced_units", int64s: Array(experts), shape: [experts.count])
        }
    }

    func languageIdentifier() throws -> LanguageIdentifier {
        if let identifier { return identifier }
        var training = data.probe
        for lang in sweep.config.languages where training[lang]?.isEmpty ?? true { training[lang] = ["?"] }
        let lid = try LanguageIdentifier(training: training)
        identifier = lid
        return lid
    }
}

func flatIndex(_ id: UnitID, _ sizes: [Int]) -> Int { sizes.prefix(id.layer).reduce(0, +) + id.unit }

public struct SweepError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
