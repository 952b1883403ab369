import Foundation
import Store

/// One self-contained HTML page (inline SVG, no scripts, no external files) that shows a merged
/// sweep at a glance: probes across checkpoints and layers, expert alignment against chance, the
/// language mix of forced generations, and where every number came from.
public enum Report {
    /// Mean over the finite values (NaN when there are none).
    static func mean(_ v: [Double]) -> Double {
        let f = v.filter(\.isFinite)
        return f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)
    }

    public static func render(sweep path: String) throws -> String {
        let r = try HDF5Reader(path: path)
        let checkpoints = try r.strings("checkpoint"), languages = try r.strings("language"), concepts = try r.strings("concept")
        let (C, L, K) = (checkpoints.count, languages.count, concepts.count)
        var figures: [String] = []
        // Checkpoints on a training-step axis (log scale) when every step is known.
        let steps = (try? r.ints("checkpoint_step").values) ?? []
        let stepAxis: [Double]? = {
            guard steps.count == C, C > 1, steps.allSatisfy({ $0 >= 0 }) else { return nil }
            let logs = steps.map { log10(Double($0) + 1) }
            let (lo, hi) = (logs.min()!, logs.max()!)
            return hi > lo ? logs.map { ($0 - lo) / (hi - lo) } : nil
        }()
        let checkpointAxis = stepAxis == nil ? "checkpoint" : "checkpoint (at its training step, log scale)"

        // 1–2. Probe accuracy: checkpoint × layer heatmap, and per-checkpoint layer curves with the seed spread.
        let acc = try r.named("probe_accuracy")
        let layers = acc.count("layer"), seeds = acc.count("seed")
        func seedValues(_ c: Int, _ l: Int) -> [Double] { acc.along("seed", ["checkpoint": c, "layer": l]) }
        let meanAcc = (0..<C).map { c in (0..<layers).map { mean(seedValues(c, $0)) } }
        figures.append(SVG.heatmap(title: "Language-ID probe accuracy (mean over \(seeds) seeds)", rows: checkpoints,
                                   columns: (0..<layers).map { "\($0)" }, values: meanAcc, lo: 1 / Double(max(L, 1)), hi: 1,
                                   xLabel: "layer (hidden.L)", yLabel: "checkpoint"))
        figures.append(SVG.lines(title: "Probe accuracy by layer (band: min–max over seeds)", x: (0..<layers).map { "\($0)" },
            series: (0..<C).map { c in
                SVG.Series(name: checkpoints[c], values: meanAcc[c],
                           low: (0..<layers).map { seedValues(c, $0).filter(\.isFinite).min() ?? .nan },
                           high: (0..<layers).map { seedValues(c, $0).filter(\.isFinite).max() ?? .nan })
            } + [SVG.Series(name: "chance (1/\(L))", values: [Double](repeating: 1 / Double(max(L, 1)), count: layers), dashed: true)],
            yLabel: "test accuracy", xLabel: "layer", yRange: (0, 1)))

        // 3. Expert overlap per layer across checkpoints, with the chance level.
        let perLayer = try r.named("overlap_per_layer"), chanceLayer = try r.named("chance_overlap_per_layer")
        let blocks = perLayer.count("block")
        func pairMean(_ a: SweepArray<Double>, _ c: Int, _ b: Int) -> Double {
            var v: [Double] = []
            for k in 0..<K { for x in 0..<L { for y in 0..<L where x != y {
                v.append(a[["checkpoint": c, "concept": k, "block": b, "language": x, "target_language": y]])
            } } }
            return mean(v)
        }
        figures.append(SVG.lines(title: "Expert overlap |E_A ∩ E_B| / K per layer (language pairs A ≠ B, all concepts)",
            x: (0..<blocks).map { "\($0)" },
            series: (0..<C).map { c in SVG.Series(name: checkpoints[c], values: (0..<blocks).map { pairMean(perLayer, c, $0) }) }
                + [SVG.Series(name: "chance (\(checkpoints[C - 1]))", values: (0..<blocks).map { pairMean(chanceLayer, C - 1, $0) },
                              dashed: true)],
            yLabel: "overlap", xLabel: "layer (blocks.L.mlp_post)"))

        // 4. Cross-language AP and overlap across checkpoints, with their baselines.
        func matrixMean(_ name: String, _ c: Int) throws -> Double {
            let m = try r.named(name)
            var v: [Double] = []
            for k in 0..<K { for x in 0..<L { for y in 0..<L where x != y {
                v.append(m[["checkpoint": c, "concept": k, "language": x, "target_language": y]])
            } } }
            return mean(v)
        }
        figures.append(SVG.lines(title: "Cross-lingual alignment across checkpoints (A ≠ B)", x: checkpoints, series: [
            SVG.Series(name: "cross-language AP", values: try (0..<C).map { try matrixMean("cross_ap", $0) }),
            SVG.Series(name: "AP, permuted labels", values: try (0..<C).map { try matrixMean("cross_ap_baseline", $0) }, dashed: true),
            SVG.Series(name: "overlap", values: try (0..<C).map { try matrixMean("overlap", $0) }),
            SVG.Series(name: "overlap, chance", values: try (0..<C).map { try matrixMean("chance_overlap", $0) }, dashed: true),
        ], yLabel: "mean over concepts and language pairs", xLabel: checkpointAxis, xPositions: stepAxis))

        // 5. Language × language overlap for the last checkpoint (all layers, mean over concepts).
        let overlap = try r.named("overlap")
        let last = C - 1
        let matrix = (0..<L).map { x in (0..<L).map { y in
            mean((0..<K).map { overlap[["checkpoint": last, "concept": $0, "language": x, "target_language": y]] })
        } }
        figures.append(SVG.heatmap(title: "Expert overlap between languages at \(checkpoints[last]) (all layers, mean over concepts)",
                                   rows: languages, columns: languages, values: matrix, lo: 0, hi: 1,
                                   xLabel: "language B", yLabel: "language A"))

        // 6. Language mix of forced generations per checkpoint, then by source language (own, English, matrices, examples).
        var generationHTML = ""
        if r.exists("generation_language") {
            let gen = try r.namedInts("generation_language")
            let samples = gen.count("sample")
            let parts = languages + ["undetermined"]
            var fractions: [[Double]] = []
            for c in 0..<C {
                var counts = [Double](repeating: 0, count: parts.count)
                for k in 0..<K { for l in 0..<L { for s in 0..<samples {
                    let v = Int(gen[["checkpoint": c, "concept": k, "language": l, "sample": s]])
                    if v >= 0 { counts[v] += 1 } else if v == -1 { counts[L] += 1 }
                } } }
                let total = counts.reduce(0, +)
                fractions.append(counts.map { total > 0 ? $0 / total : 0 })
            }
            figures.append(SVG.stackedBars(title: "Language of forced generations (experts of every concept and language)",
                                           rows: checkpoints, parts: parts, fractions: fractions))
            let bySource = try generationBySource(r, checkpoints: checkpoints, languages: languages, concepts: concepts,
                                                  stepAxis: stepAxis, axisLabel: checkpointAxis)
            figures += bySource.figures
            generationHTML = bySource.html
        }

        // The intervention against its controls: experts vs matched random units vs nothing forced.
        if r.exists("generation_share") {
            let share = try r.named("generation_share"), interval = try r.named("generation_share_interval")
            let arms = try r.strings("arm"), measures = try r.strings("measure")
            /// Mean over the cells (concepts × languages) that have the arm, of the share or of an interval bound.
            func cellMean(_ c: Int, _ a: Int, _ m: Int, bound: Int?) -> Double {
                var v: [Double] = []
                for k in 0..<K { for l in 0..<L {
                    let at = ["checkpoint": c, "concept": k, "language": l, "arm": a, "measure": m]
                    v.append(bound.map { interval[at.merging(["bound": $0]) { $1 }] } ?? share[at])
                } }
                return mean(v)
            }
            for (m, measure) in measures.enumerated() where measure != "concept_present" {
                let what = measure == "english" ? "in English" : "in the experts' own language"
                figures.append(SVG.lines(title: "Forced generations \(what): experts, matched random units, nothing forced "
                                         + "(band: mean of the cells' 95% bootstrap bounds)", x: checkpoints,
                    series: arms.indices.map { a in
                        SVG.Series(name: arms[a], values: (0..<C).map { cellMean($0, a, m, bound: nil) },
                                   low: (0..<C).map { cellMean($0, a, m, bound: 0) }, high: (0..<C).map { cellMean($0, a, m, bound: 1) },
                                   dashed: arms[a] != "experts")
                    }, yLabel: "share of samples (mean over cells)", xLabel: checkpointAxis, yRange: (0, 1), xPositions: stepAxis))
            }
        }

        // 7–8. Language-specific neurons (LAPE) per layer and per language across checkpoints.
        if r.exists("language_specific_per_layer") {
            let per = try r.namedInts("language_specific_per_layer")
            let blocks = per.count("block")
            func count(_ c: Int, _ l: Int, _ b: Int) -> Double { Double(max(0, per[["checkpoint": c, "language": l, "block": b]])) }
            let byLayer = (0..<C).map { c in (0..<blocks).map { b in (0..<L).reduce(0.0) { $0 + count(c, $1, b) } } }
            let byLanguage = (0..<C).map { c in (0..<L).map { l in (0..<blocks).reduce(0.0) { $0 + count(c, l, $1) } } }
            figures.append(SVG.heatmap(title: "Language-specific neurons (LAPE) per layer, all languages", rows: checkpoints,
                                       columns: (0..<blocks).map { "\($0)" }, values: byLayer, lo: 0,
                                       hi: max(1, byLayer.flatMap { $0 }.max() ?? 1), xLabel: "layer (blocks.L.mlp_post)",
                                       yLabel: "checkpoint", format: "%.0f"))
            figures.append(SVG.heatmap(title: "Language-specific neurons (LAPE) per language, all layers", rows: checkpoints,
                                       columns: languages, values: byLanguage, lo: 0, hi: max(1, byLanguage.flatMap { $0 }.max() ?? 1),
                                       xLabel: "language", yLabel: "checkpoint", format: "%.0f"))
        }

        // Shared and exclusive units per layer across checkpoints (from LAPE's activation probabilities).
        if r.exists("language_count_histogram") {
            let h = try r.namedInts("language_count_histogram")
            let blocks = h.count("block"), width = h.count("count")
            let shared = (L + 1) / 2   // at least half of the languages
            func units(_ c: Int, _ b: Int, _ counts: ClosedRange<Int>) -> Double {
                guard h[["checkpoint": c, "block": b, "count": 0]] >= 0 else { return .nan }
                return Double(counts.clamped(to: 0...(width - 1)).reduce(Int64(0)) { $0 + h[["checkpoint": c, "block": b, "count": $1]] })
            }
            let x = (0..<blocks).map { "\($0)" }
            figures.append(SVG.lines(title: "Exclusive units per layer (active above LAPE's bar in exactly one language)", x: x,
                series: (0..<C).map { c in SVG.Series(name: checkpoints[c], values: (0..<blocks).map { units(c, $0, 1...1) }) },
                yLabel: "units", xLabel: "layer (blocks.L.mlp_post)"))
            figures.append(SVG.lines(title: "Shared units per layer (above LAPE's bar in at least \(shared) of \(L) languages)", x: x,
                series: (0..<C).map { c in SVG.Series(name: checkpoints[c], values: (0..<blocks).map { units(c, $0, shared...L) }) },
                yLabel: "units", xLabel: "layer (blocks.L.mlp_post)"))
        }

        // The latent language: logit-lens mass on English and on the source language, per checkpoint and layer.
        figures += try logitLensFigures(r, checkpoints: checkpoints, languages: languages)

        // 9. Timeline: where and when each task ran, and time per task kind.
        var timeTable = ""
        if r.exists("task_seconds") {
            let ids = try r.strings("task"), kinds = try r.strings("task_kind"), workers = try r.strings("task_worker")
            let started = try r.doubles("task_started").values, seconds = try r.doubles("task_seconds").values
            let hosts = try r.strings("task_host"), rss = try r.ints("task_peak_rss_bytes").values
            let kindOrder = ["extract", "lens", "probe", "expertise", "alignment", "lape", "generate", "unforced"].filter(kinds.contains)
            let spans = ids.indices.map { SVG.Span(lane: "\(workers[$0])", task: ids[$0], kind: kinds[$0], start: started[$0], seconds: seconds[$0]) }
            if !spans.isEmpty {
                figures.append(SVG.timeline(title: "Timeline: tasks per worker (\(Set(hosts).count) host\(Set(hosts).count == 1 ? "" : "s"))",
                                            spans: spans, kinds: kindOrder))
                timeTable = "<h2>Time per task kind</h2><table><tr><th>kind</th><th>tasks</th><th>total s</th><th>mean s</th>"
                    + "<th>longest s</th><th>peak worker memory</th></tr>"
                for kind in kindOrder {
                    let mine = ids.indices.filter { kinds[$0] == kind }
                    let total = mine.reduce(0) { $0 + seconds[$1] }
                    let longest = mine.map { seconds[$0] }.max() ?? 0
                    let peak = mine.map { rss[$0] }.max() ?? 0
                    timeTable += "<tr><td>\(kind)</td><td>\(mine.count)</td><td>\(String(format: "%.1f", total))</td>"
                        + "<td>\(String(format: "%.2f", total / Double(max(mine.count, 1))))</td><td>\(String(format: "%.2f", longest))</td>"
                        + "<td>\(String(format: "%.0f MB", Double(peak) / 1e6))</td></tr>"
                }
                timeTable += "</table>"
            }
        }

        // Provenance.
        var provenance: [(String, String)] = []
        for name in ["sweep", "tool_version", "pooling", "probe_hook_site", "expertise_hook_site", "forcing", "data_fingerprint", "plan_digest", "complete"] {
            if let v = try? r.attribute(name) { provenance.append((name, v)) }
        }
        let sources = try r.strings("checkpoint_source"), fingerprints = try r.strings("checkpoint_fingerprint")
        let tokenizers = (try? r.strings("checkpoint_tokenizer")) ?? []
        let duplicates = (try? r.strings("duplicate_of")) ?? []
        let missing = (try? r.strings("missing_task")) ?? []

        var html = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>xlsweep report</title>
            <style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1250px}
            .grid{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0;border:1px solid #ddd;padding:6px;background:#fff}
            table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
            td.mono{font-family:monospace;font-size:11px;word-break:break-all}table{max-width:100%}h1{font-size:22px}h2{font-size:17px;margin-top:26px}.warn{color:#a00}</style>
            </head><body><h1>xlsweep report: \(SVG.escape(provenance.first { $0.0 == "sweep" }?.1 ?? path))</h1>
            <p>\(C) checkpoints × \(layers) hidden layers × \(L) languages × \(K) concepts. Source: \(SVG.escape(path))</p>
            """
        if !missing.isEmpty { html += "<p class=\"warn\">Partial sweep: \(missing.count) tasks missing (\(SVG.escape(missing.prefix(8).joined(separator: ", "))))</p>" }
        for (c, d) in duplicates.enumerated() where !d.isEmpty {
            html += "<p class=\"warn\">Checkpoint \(SVG.escape(checkpoints[c])) holds the same weights as \(SVG.escape(d)).</p>"
        }
        html += "<h2>Figures</h2><div class=\"grid\">" + figures.map { "<figure>\($0)</figure>" }.joined() + "</div>"
        html += generationHTML
        html += timeTable
        html += "<h2>Provenance</h2><table><tr><th>checkpoint</th><th>source</th><th>weights</th><th>tokenizer</th></tr>"
        for c in 0..<C {
            html += "<tr><td>\(SVG.escape(checkpoints[c]))</td><td class=\"mono\">\(SVG.escape(sources[c]))</td>"
                + "<td class=\"mono\">\(SVG.escape(fingerprints[c]))</td><td class=\"mono\">\(SVG.escape(c < tokenizers.count ? tokenizers[c] : ""))</td></tr>"
        }
        html += "</table><table>" + provenance.map { "<tr><th>\(SVG.escape($0.0))</th><td class=\"mono\">\(SVG.escape($0.1))</td></tr>" }.joined()
        html += "</table></body></html>\n"
        return html
    }
}
