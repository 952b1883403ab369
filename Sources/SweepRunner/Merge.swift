import Foundation
import Probing
import Store
import SweepCore

/// Merges a sweep's fragments into one self-describing `sweep.h5`: one dataset per measurement
/// with dimension scales (`checkpoint`, `layer`, `block`, `language`, `target_language`,
/// `concept`, `unit`, `rank`, `seed`, `sample`), UTF-8 labels, provenance, gzip + shuffle, chunked
/// for per-(checkpoint, layer) and per-(concept, language) reads. Data are written anew (no
/// H5Ocopy: it breaks dimension-scale references, ../shared/PLATFORM.md).
public enum Merge {
    public struct Summary: Sendable {
        public let path: String
        public let missing: [String]
        /// Groups of checkpoints whose weights are identical (same fingerprint): one point, not several.
        public let duplicates: [[String]]
        /// Other things a researcher should know about the file (a checkpoint run in mixed precisions).
        public var notes: [String] = []

        /// One warning line per group of identical checkpoints, and one per note.
        public var warnings: [String] {
            duplicates.map { "warning: checkpoints \($0.joined(separator: ", ")) hold identical weights (same fingerprint); "
                + "the published branches may be duplicates" } + notes.map { "warning: " + $0 }
        }
    }

    /// One value when every node agrees (as a one-node run writes it), else `node: value` for each
    /// node, sorted, separated by `; `.
    static func perNode(_ values: [(host: String, value: String)]) -> String {
        let distinct = Set(values.map(\.value))
        guard distinct.count > 1 else { return distinct.first ?? "" }
        var byHost: [String: Set<String>] = [:]
        for v in values { byHost[v.host, default: []].insert(v.value) }
        return byHost.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.sorted().joined(separator: " | "))" }.joined(separator: "; ")
    }

    /// - Parameter embedActivations: copy the activations in (default: the config's `embed_activations`).
    /// - Parameter ledger: the fragments' ledger when the caller has just built it (else it is built here).
    public static func run(_ sweep: ResolvedSweep, allowPartial: Bool = false, embedActivations: Bool? = nil,
                           ledger known: Ledger? = nil, toolVersion: String) throws -> Summary {
        let c = sweep.config
        let store = sweep.fragments
        let ledger = known ?? Ledger(store: store, plan: sweep.plan, inputs: sweep.inputs)
        let missing = sweep.plan.tasks.map(\.id).filter { !ledger.done.contains($0) }
        if !missing.isEmpty && !allowPartial {
            let shown = missing.prefix(10).joined(separator: ", ")
            let stale = missing.filter { ledger.stale[$0] != nil }.count
            throw SweepError("\(missing.count) of \(sweep.plan.tasks.count) tasks have no current fragment in \(store.directory) "
                + "(\(shown)\(missing.count > 10 ? ", …" : "")\(stale > 0 ? "; \(stale) of them made from other inputs" : "")); "
                + "rerun the sweep, or merge with --allow-partial")
        }
        let shapes = Set(c.checkpoints.map { sweep.modelConfigs[$0.name]! }.map { [$0.nLayers, $0.dMLP] })
        guard shapes.count == 1, let shape = shapes.first else {
            throw SweepError("checkpoints of different shapes (layers, MLP width: \(shapes.sorted { $0.lexicographicallyPrecedes($1) })) cannot share one sweep.h5")
        }
        let (layers, width) = (shape[0], shape[1])
        let units = layers * width
        let ck = c.checkpoints.map(\.name), langs = c.languages, concepts = sweep.concepts
        let (C, L, K, S, G, P) = (ck.count, langs.count, concepts.count, c.probe.seeds, c.generation.samples, c.expertise.k)
        let done = ledger.done
        let unitIndex = UnitIndex(layers: layers, width: width)
        func reader(_ id: String) throws -> HDF5Reader? { done.contains(id) ? try store.reader(id) : nil }

        let path = c.output + "/sweep.h5"
        let w = try HDF5Writer(creating: path)
        // Axes.
        try w.write("checkpoint", strings: ck); try w.makeScale("checkpoint", dimension: "checkpoint")
        try w.write("language", strings: langs); try w.makeScale("language", dimension: "language")
        try w.write("target_language", strings: langs); try w.makeScale("target_language", dimension: "target_language")
        try w.write("concept", strings: concepts); try w.makeScale("concept", dimension: "concept")
        for (name, n) in [("layer", layers + 1), ("block", layers), ("unit", units), ("rank", P), ("seed", S), ("sample", G)] {
            try w.write(name, int64s: (0..<n).map(Int64.init), shape: [n])
            try w.makeScale(name, dimension: name)
        }

        // Probes: accuracy [checkpoint, layer, seed].
        var accuracy = [Double](repeating: .nan, count: C * (layers + 1) * S)
        for (i, name) in ck.enumerated() {
            for l in 0...layers {
                guard let r = try reader(SweepTask.probe(name, layer: l).id) else { continue }
                let probe = try ProbeFragment(reading: r, seeds: S, languages: L)
                accuracy.replaceSubrange(((i * (layers + 1) + l) * S)..<((i * (layers + 1) + l + 1) * S), with: probe.accuracy)
            }
        }
        try w.write("probe_accuracy", doubles: accuracy, shape: [C, layers + 1, S], chunk: [1, layers + 1, S],
                    dimensions: SweepSchema.dimensions("probe_accuracy"))
        try w.setAttribute("hook_site", "hidden.L (transformers' output_hidden_states[L])", on: "probe_accuracy")

        // Expertise: [checkpoint, language, concept, unit] and experts [checkpoint, language, concept, rank].
        var perUnit: [String: [Float]] = [:]
        for name in ["ap", "on_p50", "on_p90", "off_mean"] { perUnit[name] = [Float](repeating: .nan, count: C * L * K * units) }
        var experts = [Int64](repeating: -1, count: C * L * K * P)
        var positives = [Int32](repeating: -1, count: C * L * K)
        for (i, name) in ck.enumerated() {
            for (j, lang) in langs.enumerated() {
                guard let r = try reader(SweepTask.expertise(name, lang).id) else { continue }
                let e = try ExpertiseFragment(reading: r, concepts: K, k: P, units: unitIndex)
                let base = (i * L + j) * K
                for (key, v) in [("ap", e.averagePrecision), ("on_p50", e.onP50), ("on_p90", e.onP90), ("off_mean", e.offMean)] {
                    perUnit[key]!.replaceSubrange((base * units)..<((base + K) * units), with: v)
                }
                experts.replaceSubrange((base * P)..<((base + K) * P), with: e.experts)
                positives.replaceSubrange(base..<(base + K), with: e.positives)
            }
        }
        for name in ["ap", "on_p50", "on_p90", "off_mean"] {
            try w.write("expert_\(name)", floats: perUnit[name]!, shape: [C, L, K, units], chunk: [1, 1, 1, units],
                        dimensions: SweepSchema.dimensions("expert_\(name)"))
            try w.setAttribute("hook_site", "blocks.L.mlp_post, units numbered layer-major (unit = L·\(width) + i)",
                               on: "expert_\(name)")
        }
        try w.write("experts", int64s: experts, shape: [C, L, K, P], chunk: [1, 1, 1, P],
                    dimensions: SweepSchema.dimensions("experts"))
        try w.write("positives", ints: positives, shape: [C, L, K], dimensions: SweepSchema.dimensions("positives"))

        // Alignment [checkpoint, concept, language, target_language] (+ block).
        var matrices: [String: [Float]] = [:]
        for name in ["overlap", "chance_overlap", "cross_ap", "cross_ap_baseline"] {
            matrices[name] = [Float](repeating: .nan, count: C * K * L * L)
        }
        var perLayer = [Float](repeating: .nan, count: C * K * layers * L * L), chancePerLayer = perLayer
        for (i, name) in ck.enumerated() {
            guard let r = try reader(SweepTask.alignment(name).id) else { continue }
            let a = try AlignmentFragment(reading: r, concepts: K, languages: L, blocks: layers)
            for (key, v) in [("overlap", a.overlap), ("chance_overlap", a.chanceOverlap), ("cross_ap", a.crossAP),
                             ("cross_ap_baseline", a.crossAPBaseline)] {
                matrices[key]!.replaceSubrange((i * K * L * L)..<((i + 1) * K * L * L), with: v)
            }
            perLayer.replaceSubrange((i * K * layers * L * L)..<((i + 1) * K * layers * L * L), with: a.overlapPerLayer)
            chancePerLayer.replaceSubrange((i * K * layers * L * L)..<((i + 1) * K * layers * L * L), with: a.chanceOverlapPerLayer)
        }
        for (name, values) in matrices.sorted(by: { $0.key < $1.key }) {
            try w.write(name, floats: values, shape: [C, K, L, L], chunk: [1, 1, L, L], dimensions: SweepSchema.dimensions(name))
        }
        for (name, values) in [("overlap_per_layer", perLayer), ("chance_overlap_per_layer", chancePerLayer)] {
            try w.write(name, floats: values, shape: [C, K, layers, L, L], chunk: [1, 1, layers, L, L],
                        dimensions: SweepSchema.dimensions(name))
        }

        // LAPE: activation probability and language-specific units [checkpoint, language, unit], per-block counts.
        var probability = [Double](repeating: .nan, count: C * L * units)
        var specific = [Int32](repeating: -1, count: C * L * units), perBlock = [Int32](repeating: -1, count: C * L * layers)
        var thresholds = [Double](repeating: .nan, count: C * 2)
        for (i, name) in ck.enumerated() {
            guard let r = try reader(SweepTask.lape(name).id) else { continue }
            let f = try LAPEFragment(reading: r, languages: L, units: units)
            probability.replaceSubrange((i * L * units)..<((i + 1) * L * units), with: f.activationProbability)
            specific.replaceSubrange((i * L * units)..<((i + 1) * L * units), with: f.languageSpecific)
            for j in 0..<L {
                for b in 0..<layers {
                    let row = j * units + unitIndex.offsets[b]   // language j, block b's first unit
                    perBlock[(i * L + j) * layers + b] = f.languageSpecific[row..<(row + width)].reduce(0, +)
                }
            }
            thresholds.replaceSubrange((i * 2)..<(i * 2 + 2), with: [f.filterValue, f.activationBar])
        }
        try w.write("activation_probability", doubles: probability, shape: [C, L, units], chunk: [1, 1, units],
                    dimensions: SweepSchema.dimensions("activation_probability"))
        try w.setAttribute("meaning", "share of the language's concept-pool tokens on which the unit's blocks.L.mlp_post is positive (LAPE)",
                           on: "activation_probability")
        try w.write("language_specific", ints: specific, shape: [C, L, units], chunk: [1, 1, units],
                    dimensions: SweepSchema.dimensions("language_specific"))
        try w.setAttribute("meaning", "1: LAPE selects the unit as specific to the language (Tang et al. 2024; top_rate \(c.lape.topRate), "
                           + "filter_rate \(c.lape.filterRate), activation_bar_ratio \(c.lape.activationBarRatio)); -1: not run",
                           on: "language_specific")
        try w.write("language_specific_per_layer", ints: perBlock, shape: [C, L, layers], dimensions: SweepSchema.dimensions("language_specific_per_layer"))
        try w.write("threshold", strings: ["filter", "activation_bar"])
        try w.makeScale("threshold", dimension: "threshold")
        try w.write("lape_thresholds", doubles: thresholds, shape: [C, 2], dimensions: SweepSchema.dimensions("lape_thresholds"))
        try w.setAttribute("meaning", "per checkpoint: the filter_rate and activation_bar_ratio quantiles of all activation probabilities",
                           on: "lape_thresholds")
        // Shared and exclusive units: per unit, the languages whose activation probability is above
        // LAPE's activation bar (the comparison LAPE's own selection makes), counted per block.
        var histogram = [Int32](repeating: -1, count: C * layers * (L + 1))
        for i in 0..<C where thresholds[i * 2 + 1].isFinite {
            let bar = thresholds[i * 2 + 1]
            for b in 0..<layers {
                var counts = [Int32](repeating: 0, count: L + 1)
                for u in unitIndex.offsets[b]..<(unitIndex.offsets[b] + width) {
                    var above = 0
                    for j in 0..<L where probability[(i * L + j) * units + u] > bar { above += 1 }
                    counts[above] += 1
                }
                histogram.replaceSubrange(((i * layers + b) * (L + 1))..<((i * layers + b + 1) * (L + 1)), with: counts)
            }
        }
        try w.write("count", int64s: (0...L).map(Int64.init), shape: [L + 1])
        try w.makeScale("count", dimension: "count")
        try w.write("language_count_histogram", ints: histogram, shape: [C, layers, L + 1], dimensions: SweepSchema.dimensions("language_count_histogram"))
        try w.setAttribute("meaning", "units of the block whose activation probability is above LAPE's activation bar (lape_thresholds) "
                           + "in exactly `count` languages: 1 exclusive, at least half of the languages shared; -1: LAPE not run",
                           on: "language_count_histogram")

        // Forced generation [checkpoint, concept, language, sample], its controls [..., control, sample],
        // and per cell the shares of each arm with their bootstrap intervals.
        if c.generation.enabled {
            let D = c.generation.controls
            var language = [Int32](repeating: -2, count: C * K * L * G), present = language
            var texts = [String](repeating: "", count: C * K * L * G)
            var controlLanguage = [Int32](repeating: -2, count: C * K * L * D * G), controlPresent = controlLanguage
            var controlTexts = [String](repeating: "", count: C * K * L * D * G)
            var controlUnits = [Int64](repeating: -1, count: C * K * L * D * P)
            let arms = ["experts", "controls", "unforced"], measures = ["own_language", "english", "concept_present"]
            // The base rate: each checkpoint's unforced generation.
            let forcedConcepts = sweep.forcedConcepts
            var unforced: [UnforcedFragment?] = []
            for name in ck {
                unforced.append(try reader(SweepTask.unforced(name).id).map {
                    try UnforcedFragment(reading: $0, samples: G, concepts: forcedConcepts.count)
                })
            }
            var share = [Double](repeating: .nan, count: C * K * L * arms.count * measures.count)
            var interval = [Double](repeating: .nan, count: share.count * 2)
            let english = langs.firstIndex(of: "en")
            for (i, name) in ck.enumerated() {
                for (k, concept) in concepts.enumerated() {
                    for (j, lang) in langs.enumerated() {
                        guard let r = try reader(SweepTask.generate(name, concept: concept, lang).id) else { continue }
                        let base = unforced[i].flatMap { u in forcedConcepts.firstIndex(of: concept).map { f in
                            (u.language, Array(u.conceptPresent[(f * G)..<((f + 1) * G)])) } }
                        let g = try GenerationFragment(reading: r, samples: G, controls: D)
                        let cell = (i * K + k) * L + j
                        language.replaceSubrange((cell * G)..<((cell + 1) * G), with: g.language)
                        present.replaceSubrange((cell * G)..<((cell + 1) * G), with: g.conceptPresent)
                        texts.replaceSubrange((cell * G)..<((cell + 1) * G), with: g.text)
                        controlLanguage.replaceSubrange((cell * D * G)..<((cell + 1) * D * G), with: g.controlLanguage)
                        controlPresent.replaceSubrange((cell * D * G)..<((cell + 1) * D * G), with: g.controlConceptPresent)
                        controlTexts.replaceSubrange((cell * D * G)..<((cell + 1) * D * G), with: g.controlText)
                        for (d, units) in g.controlUnits.enumerated() {
                            controlUnits.replaceSubrange(((cell * D + d) * P)..<((cell * D + d) * P + units.count), with: units)
                        }
                        for (a, arm) in arms.enumerated() {
                            let outputs: [Int32], found: [Int32]
                            switch arm {
                            case "experts": (outputs, found) = (g.language, g.conceptPresent)
                            case "controls": (outputs, found) = (g.controlLanguage, g.controlConceptPresent)
                            default:
                                guard let base else { continue }
                                (outputs, found) = base
                            }
                            guard !outputs.isEmpty else { continue }
                            let series = [outputs.map { $0 == Int32(j) ? 1.0 : 0.0 },
                                          outputs.map { out in english.map { out == Int32($0) ? 1.0 : 0.0 } ?? .nan },
                                          found.map(Double.init)]
                            let bounds = Bootstrap.intervals(series, seed: SweepTask.seed(sweepSeed: c.seed,
                                                                                          name: "bootstrap/\(name)/\(concept)/\(lang)/\(arm)"))
                            for (m, s) in series.enumerated() {
                                let at = (cell * arms.count + a) * measures.count + m
                                share[at] = s.reduce(0, +) / Double(s.count)
                                interval[at * 2] = bounds[m].low
                                interval[at * 2 + 1] = bounds[m].high
                            }
                        }
                    }
                }
            }
            try w.write("generation_language", ints: language, shape: [C, K, L, G], chunk: [1, 1, L, G],
                        dimensions: SweepSchema.dimensions("generation_language"))
            try w.setAttribute("meaning", "index into language; -1 undetermined; -2 not run", on: "generation_language")
            try w.write("generation_concept_present", ints: present, shape: [C, K, L, G], chunk: [1, 1, L, G],
                        dimensions: SweepSchema.dimensions("generation_concept_present"))
            try w.write("generation_text", strings: texts, shape: [C, K, L, G], dimensions: SweepSchema.dimensions("generation_text"))
            if D > 0 {
                try w.write("control", int64s: (0..<D).map(Int64.init), shape: [D])
                try w.makeScale("control", dimension: "control")
                try w.write("control_units", int64s: controlUnits, shape: [C, K, L, D, P], chunk: [1, 1, 1, D, P],
                            dimensions: SweepSchema.dimensions("control_units"))
                try w.setAttribute("meaning", "random units matched to the cell's experts layer by layer (flat unit indices, "
                                   + "ascending; -1 padding or not run)", on: "control_units")
                try w.write("control_generation_language", ints: controlLanguage, shape: [C, K, L, D, G], chunk: [1, 1, L, D, G],
                            dimensions: SweepSchema.dimensions("control_generation_language"))
                try w.setAttribute("meaning", "index into language; -1 undetermined; -2 not run", on: "control_generation_language")
                try w.write("control_generation_concept_present", ints: controlPresent, shape: [C, K, L, D, G], chunk: [1, 1, L, D, G],
                            dimensions: SweepSchema.dimensions("control_generation_concept_present"))
                try w.write("control_generation_text", strings: controlTexts, shape: [C, K, L, D, G], dimensions: SweepSchema.dimensions("control_generation_text"))
            }
            var unforcedLanguage = [Int32](repeating: -2, count: C * G), unforcedPresent = [Int32](repeating: -2, count: C * K * G)
            var unforcedTexts = [String](repeating: "", count: C * G)
            for (i, u) in unforced.enumerated() {
                guard let u else { continue }
                unforcedLanguage.replaceSubrange((i * G)..<((i + 1) * G), with: u.language)
                unforcedTexts.replaceSubrange((i * G)..<((i + 1) * G), with: u.text)
                for (f, concept) in forcedConcepts.enumerated() {
                    let k = concepts.firstIndex(of: concept)!
                    unforcedPresent.replaceSubrange(((i * K + k) * G)..<((i * K + k + 1) * G), with: u.conceptPresent[(f * G)..<((f + 1) * G)])
                }
            }
            try w.write("unforced_generation_language", ints: unforcedLanguage, shape: [C, G], dimensions: SweepSchema.dimensions("unforced_generation_language"))
            try w.setAttribute("meaning", "index into language; -1 undetermined; -2 not run", on: "unforced_generation_language")
            try w.write("unforced_generation_text", strings: unforcedTexts, shape: [C, G], dimensions: SweepSchema.dimensions("unforced_generation_text"))
            try w.write("unforced_generation_concept_present", ints: unforcedPresent, shape: [C, K, G],
                        dimensions: SweepSchema.dimensions("unforced_generation_concept_present"))
            try w.setAttribute("meaning", "the concept's word in the unforced text (1 yes); -2 not run or not forced", on: "unforced_generation_concept_present")
            try w.write("arm", strings: arms)
            try w.makeScale("arm", dimension: "arm")
            try w.write("measure", strings: measures)
            try w.makeScale("measure", dimension: "measure")
            try w.write("bound", strings: ["low", "high"])
            try w.makeScale("bound", dimension: "bound")
            try w.write("generation_share", doubles: share, shape: [C, K, L, arms.count, measures.count],
                        dimensions: SweepSchema.dimensions("generation_share"))
            try w.setAttribute("meaning", "share of the arm's samples in the cell's own language, in English (NaN without en), "
                               + "and with the concept present; controls: all draws' samples together; unforced: the checkpoint's "
                               + "unforced samples (the base rate)", on: "generation_share")
            try w.write("generation_share_interval", doubles: interval, shape: [C, K, L, arms.count, measures.count, 2],
                        dimensions: SweepSchema.dimensions("generation_share_interval"))
            try w.setAttribute("meaning", "95% percentile bootstrap interval of generation_share over the arm's samples (1,000 "
                               + "resamples, seeded per cell and arm)", on: "generation_share_interval")
        }

        try writeLogitLens(sweep, to: w, done: done, store: store)
        try writeActivations(sweep, to: w, done: done, store: store, embed: embedActivations ?? c.embedActivations)

        // Provenance.
        var fingerprints: [String] = [], tokenizers: [String] = [], precisions: [String] = [], kernels: [String] = []
        var warnings: [String] = []
        for name in ck {
            let p = try reader(SweepTask.extract(name, langs[0]).id).map(ExtractFragment.provenance)
            fingerprints.append(p?.weights ?? "")
            tokenizers.append(p.map { $0.tokenizer.isEmpty ? "" : "sha256:" + $0.tokenizer } ?? "")
            // Every language's extraction, wherever it ran: one value when all agree, else each node's.
            var byHost: [(host: String, precision: String, kernels: String)] = []
            for lang in langs {
                guard let r = try reader(SweepTask.extract(name, lang).id) else { continue }
                let q = ExtractFragment.provenance(r)
                byHost.append(((try? r.attribute("task_host")) ?? "?", q.precision, q.kernels))
            }
            precisions.append(Self.perNode(byHost.map { ($0.host, $0.precision) }))
            kernels.append(Self.perNode(byHost.map { ($0.host, $0.kernels) }))
            if Set(byHost.map(\.precision)).count > 1 {
                warnings.append("checkpoint \(name) was extracted in more than one precision (\(precisions.last!)): "
                    + "its languages are not comparable bit for bit; set dtype: fp32 or bf16 to make every node use one")
            }
        }
        try w.write("checkpoint_precision", strings: precisions, dimensions: SweepSchema.dimensions("checkpoint_precision"))
        try w.setAttribute("meaning", "weights precision of the forward passes: fp32, or bf16 (bf16 × bf16 → fp32 products)",
                           on: "checkpoint_precision")
        try w.write("checkpoint_kernels", strings: kernels, dimensions: SweepSchema.dimensions("checkpoint_kernels"))
        try w.setAttribute("meaning", "kernels of the dense products the extractions ran: fp32 (own kernels, "
                           + "same bits on every CPU; the level says how fast), bf16 portable (same bits on every CPU) or amx (Intel AMX tiles, bits of their own); "
                           + "when nodes differed, 'node: kernels' for each node, separated by '; '", on: "checkpoint_kernels")
        try w.write("checkpoint_tokenizer", strings: tokenizers, dimensions: SweepSchema.dimensions("checkpoint_tokenizer"))
        try w.setAttribute("meaning", "SHA-256 of the checkpoint's tokenizer.json", on: "checkpoint_tokenizer")
        try w.write("checkpoint_fingerprint", strings: fingerprints, dimensions: SweepSchema.dimensions("checkpoint_fingerprint"))
        var groups: [String: [String]] = [:]
        for (i, f) in fingerprints.enumerated() where !f.isEmpty { groups[f, default: []].append(ck[i]) }
        let duplicates: [[String]] = groups.values.filter { $0.count > 1 }.sorted { $0[0] < $1[0] }
        var duplicateOf: [String] = []
        for name in ck {
            let group = duplicates.first { $0.contains(name) }
            duplicateOf.append(group.map { $0[0] == name ? "" : $0[0] } ?? "")
        }
        try w.write("duplicate_of", strings: duplicateOf, dimensions: SweepSchema.dimensions("duplicate_of"))
        try w.setAttribute("duplicate_of", "the first checkpoint with identical weights, or empty", on: "duplicate_of")
        try w.write("checkpoint_source", strings: c.checkpoints.map { $0.path ?? "\($0.repo ?? "")@\($0.revision ?? "main")" },
                    dimensions: SweepSchema.dimensions("checkpoint_source"))
        try w.write("checkpoint_directory", strings: ck.map { sweep.directories[$0]! }, dimensions: SweepSchema.dimensions("checkpoint_directory"))
        try w.write("checkpoint_step", int64s: c.checkpoints.map { Int64($0.trainingTime.step ?? -1) }, shape: [C], dimensions: SweepSchema.dimensions("checkpoint_step"))
        try w.setAttribute("meaning", "training step stated by the checkpoint's name or revision (step…, global_step…, "
                           + "stage1-step…-tokens…, ckpt_…, step-480k-…); -1 unknown", on: "checkpoint_step")
        try w.write("checkpoint_tokens", doubles: c.checkpoints.map { $0.trainingTime.tokens ?? .nan }, shape: [C], dimensions: SweepSchema.dimensions("checkpoint_tokens"))
        try w.setAttribute("meaning", "training tokens stated by the checkpoint's name or revision (…-tokens5B, 100B, …-3T); NaN unknown",
                           on: "checkpoint_tokens")
        try w.write("checkpoint_tokenizer_source", strings: c.checkpoints.map { $0.tokenizer?.description ?? "" }, dimensions: SweepSchema.dimensions("checkpoint_tokenizer_source"))
        try w.setAttribute("meaning", "where the tokenizer came from when not beside the weights (repo@revision or path); empty: beside them",
                           on: "checkpoint_tokenizer_source")
        try w.write("config_text", strings: [c.text], shape: [])
        // The timeline: when, where and in which attempt each finished task ran, and its worker's peak memory.
        let records = TaskRecord.read(store, tasks: sweep.plan.tasks.filter { done.contains($0.id) })
        try w.write("task", strings: records.map(\.id))
        try w.makeScale("task", dimension: "task")
        try w.write("task_kind", strings: records.map(\.kind.rawValue), dimensions: SweepSchema.dimensions("task_kind"))
        try w.write("task_started", doubles: records.map(\.started), shape: [records.count], dimensions: SweepSchema.dimensions("task_started"))
        try w.write("task_seconds", doubles: records.map(\.seconds), shape: [records.count], dimensions: SweepSchema.dimensions("task_seconds"))
        try w.write("task_host", strings: records.map(\.host), dimensions: SweepSchema.dimensions("task_host"))
        try w.write("task_worker", strings: records.map(\.worker), dimensions: SweepSchema.dimensions("task_worker"))
        try w.write("task_attempt", ints: records.map { Int32($0.attempt) }, shape: [records.count], dimensions: SweepSchema.dimensions("task_attempt"))
        try w.write("task_cpu", strings: records.map(\.cpu), dimensions: SweepSchema.dimensions("task_cpu"))
        try w.setAttribute("meaning", "the kernel level of the worker's CPU (generic, avx2, avx512, avx512-bf16, amx-bf16)", on: "task_cpu")
        try w.write("task_peak_rss_bytes", int64s: records.map { Int64($0.peakRSSBytes) }, shape: [records.count], dimensions: SweepSchema.dimensions("task_peak_rss_bytes"))
        // Its own dimension scale (like a netCDF coordinate variable), so readers see a named axis.
        try w.write("missing_task", strings: missing)
        try w.makeScale("missing_task", dimension: "missing_task")
        // Whose fault each missing task was, when it failed in the last run ("" when it never ran).
        let failures = TaskFailure.read(directory: c.output)
        try w.write("missing_task_failure", strings: missing.map { failures[$0]?.code.rawValue ?? "" }, dimensions: SweepSchema.dimensions("missing_task_failure"))
        try w.setAttribute("meaning", "input (the task's checkpoint, data or config), node (the machine), resource (memory or disk), "
            + "bug, or empty when the task did not fail in the last run", on: "missing_task_failure")
        try w.write("missing_task_error", strings: missing.map { failures[$0]?.line ?? "" }, dimensions: SweepSchema.dimensions("missing_task_error"))
        try w.setAttribute("sweep", c.name)
        try w.setAttribute("tool_version", toolVersion)
        try w.setAttribute("pooling", c.expertise.pooling.rawValue)
        try w.setAttribute("expertise_hook_site", "blocks.L.mlp_post")
        try w.setAttribute("probe_hook_site", "hidden.L")
        try w.setAttribute("forcing", c.generation.forcing.rawValue)
        try w.setAttribute("data_fingerprint", sweep.data.fingerprint)
        try w.setAttribute("plan_digest", sweep.inputs.digest)
        try w.setAttribute("complete", missing.isEmpty ? "true" : "false")
        // CF: a long name and units on every dataset (task_started's units make xarray decode it to datetime64, UTC).
        for name in w.datasetNames {
            // A dataset the schema does not describe is a defect of this file: labelled by its name, and said.
            if SweepSchema.entry(name) == nil { warnings.append("dataset \(name) has no entry in SweepSchema (labelled by its name)") }
            let e = SweepSchema.entry(name) ?? SweepSchema.Entry(longName: name.replacingOccurrences(of: "_", with: " "), units: "1",
                                                                 dimensions: [])
            try w.setAttribute("long_name", e.longName, on: name)
            try w.setAttribute("units", e.units, on: name)
        }
        try w.setAttribute("Conventions", SweepSchema.conventions)
        try w.setAttribute("title", "xlsweep sweep \(c.name)")
        try w.close()
        return Summary(path: path, missing: missing, duplicates: duplicates, notes: warnings)
    }
}
