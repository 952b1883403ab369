import Foundation
import Store

/// The forced-generation figures: which language the experts of each source language make the
/// model write, checkpoint by checkpoint (the paper's headline: a language's experts first make
/// the model write that language, later English).
extension Report {
    /// Shares of one (checkpoint, source language)'s outputs over every concept and sample. For
    /// English experts, English output counts as their own language (and `english` is 0).
    struct OutputShares {
        let own: Double, english: Double, other: Double, undetermined: Double
        /// Per output language (config order), then undetermined.
        let byLanguage: [Double]
    }

    /// - Parameter gen: `generation_language [checkpoint, concept, language, sample]` (−1 undetermined, −2 not run).
    static func shares(_ gen: SweepArray<Int64>, checkpoint c: Int, source l: Int, concepts K: Int, languages L: Int, samples G: Int,
                       english: Int?) -> OutputShares {
        var counts = [Double](repeating: 0, count: L + 1)
        for k in 0..<K {
            for s in 0..<G {
                let v = Int(gen[["checkpoint": c, "concept": k, "language": l, "sample": s]])
                if v >= 0 { counts[v] += 1 } else if v == -1 { counts[L] += 1 }
            }
        }
        let total = counts.reduce(0, +)
        let share = counts.map { total > 0 ? $0 / total : .nan }
        let en = english.flatMap { $0 == l ? nil : share[$0] } ?? 0
        let other = (0..<L).filter { $0 != l && $0 != english }.reduce(0.0) { $0 + share[$1] }
        return OutputShares(own: share[l], english: en, other: other, undetermined: share[L], byLanguage: share)
    }

    /// Figures and tables of forced generation by source language.
    static func generationBySource(_ r: HDF5Reader, checkpoints: [String], languages: [String], concepts: [String],
                                   stepAxis: [Double]? = nil, axisLabel: String = "checkpoint") throws -> (figures: [String], html: String) {
        let gen = try r.namedInts("generation_language")
        let texts = try SweepArray(name: "generation_text", values: try r.strings("generation_text"), shape: gen.shape)
        let (C, K, L, G) = (checkpoints.count, concepts.count, languages.count, gen.count("sample"))
        let english = languages.firstIndex(of: "en")
        let table = (0..<C).map { c in (0..<L).map { shares(gen, checkpoint: c, source: $0, concepts: K, languages: L, samples: G, english: english) } }
        var figures = [SVG.lines(title: "Forced generation in the experts' own language, by source language", x: checkpoints,
                                 series: (0..<L).map { l in SVG.Series(name: languages[l], values: (0..<C).map { table[$0][l].own }) },
                                 yLabel: "share of outputs", xLabel: axisLabel, yRange: (0, 1), xPositions: stepAxis)]
        if let english {
            figures.append(SVG.lines(title: "Forced generation in English, by source language", x: checkpoints,
                                     series: (0..<L).filter { $0 != english }.map { l in
                                         SVG.Series(name: languages[l], values: (0..<C).map { table[$0][l].english })
                                     }, yLabel: "share of outputs", xLabel: axisLabel, yRange: (0, 1), xPositions: stepAxis))
        }
        for c in Set([0, C - 1]).sorted() {
            figures.append(SVG.heatmap(title: "Source × output language of forced generations at \(checkpoints[c])", rows: languages,
                                       columns: languages + ["?"], values: (0..<L).map { table[c][$0].byLanguage }, lo: 0, hi: 1,
                                       xLabel: "language of the output (? undetermined)", yLabel: "experts of"))
        }
        // A table of the four shares at the first and last checkpoint, and an example per source language.
        let ends = Set([0, C - 1]).sorted()
        let concept = concepts.firstIndex(of: "earthquake") ?? 0
        func pct(_ v: Double) -> String { v.isFinite ? String(format: "%.0f%%", 100 * v) : "–" }
        var html = "<h2>Forced generation by source language</h2><table><tr><th>experts of</th>"
        for c in ends { html += "<th colspan=\"4\">\(SVG.escape(checkpoints[c])): own / English / other / undetermined</th>" }
        html += "</tr>"
        for l in 0..<L {
            html += "<tr><td>\(SVG.escape(languages[l]))</td>"
            for c in ends {
                let s = table[c][l]
                html += [s.own, s.english, s.other, s.undetermined].map { "<td>\(pct($0))</td>" }.joined()
            }
            html += "</tr>"
        }
        html += "</table><h2>Example forced generations (\(SVG.escape(concepts[concept])) experts, first sample)</h2>"
            + "<table><tr><th>experts of</th>" + ends.map { "<th>\(SVG.escape(checkpoints[$0]))</th>" }.joined() + "</tr>"
        for l in 0..<L {
            html += "<tr><td>\(SVG.escape(languages[l]))</td>"
            for c in ends {
                let first = ["checkpoint": c, "concept": concept, "language": l, "sample": 0]
                let v = Int(gen[first])
                let tag = v >= 0 ? languages[v] : (v == -1 ? "?" : "not run")
                html += "<td>[\(SVG.escape(tag))] \(SVG.escape(texts[first]))</td>"
            }
            html += "</tr>"
        }
        return (figures, html + "</table>")
    }
}
