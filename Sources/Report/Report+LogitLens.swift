import Foundation
import Store

/// The logit-lens figures: checkpoint × layer heatmaps of the lens's probability mass on English
/// tokens and on the source language's own tokens (Wendler et al. 2024: does the model pass
/// through English in its middle layers, and does that change over training?).
extension Report {
    /// `logit_lens_mass [checkpoint, language, layer, target]` averaged over the source languages
    /// other than English (all of them when the sweep has no English): per checkpoint and layer,
    /// the mass on English tokens (nil without English) and on each source's own tokens.
    static func lensMeans(_ mass: SweepArray<Double>, languages: [String]) -> (english: [[Double]]?, own: [[Double]]) {
        let (C, L, layers) = (mass.count("checkpoint"), mass.count("language"), mass.count("layer"))
        let en = languages.firstIndex(of: "en")
        let sources = (0..<L).filter { $0 != en || L == 1 }
        func mean(_ c: Int, _ layer: Int, _ target: (Int) -> Int) -> Double {
            let values = sources.map { mass[["checkpoint": c, "language": $0, "layer": layer, "target": target($0)]] }.filter(\.isFinite)
            return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
        let own = (0..<C).map { c in (0..<layers).map { mean(c, $0) { $0 } } }
        let english = en.map { e in (0..<C).map { c in (0..<layers).map { mean(c, $0) { _ in e } } } }
        return (english, own)
    }

    static func logitLensFigures(_ r: HDF5Reader, checkpoints: [String], languages: [String]) throws -> [String] {
        guard r.exists("logit_lens_mass") else { return [] }
        let m = try r.named("logit_lens_mass")
        let (english, own) = lensMeans(m, languages: languages)
        let columns = (0..<m.count("layer")).map { "\($0)" }
        let sources = languages.contains("en") && languages.count > 1 ? "source languages other than English" : "all source languages"
        var figures: [String] = []
        if let english {
            figures.append(SVG.heatmap(title: "Logit lens: probability on English tokens (mean over \(sources))", rows: checkpoints,
                                       columns: columns, values: english, lo: 0, hi: max(0.01, english.flatMap { $0 }.filter(\.isFinite).max() ?? 1),
                                       xLabel: "layer (hidden.L through the final norm and head)", yLabel: "checkpoint"))
        }
        figures.append(SVG.heatmap(title: "Logit lens: probability on the source language's own tokens (mean over \(sources))",
                                   rows: checkpoints, columns: columns, values: own, lo: 0,
                                   hi: max(0.01, own.flatMap { $0 }.filter(\.isFinite).max() ?? 1),
                                   xLabel: "layer (hidden.L through the final norm and head)", yLabel: "checkpoint"))
        return figures
    }
}
