import Foundation
import Store
import SweepCore

extension Merge {
    /// The logit lens (`lens/<checkpoint>/<language>` fragments): `token_language [checkpoint,
    /// vocab]`, `logit_lens_token [checkpoint, language, lens_token]`, `logit_lens_mass
    /// [checkpoint, language, layer, target]` and `logit_lens_accuracy [checkpoint, language,
    /// layer]`, with the `vocab`, `lens_token` and `target` axes (targets: the sweep's languages,
    /// then `unattributed`). Cells whose task did not run are −2 / NaN.
    static func writeLogitLens(_ sweep: ResolvedSweep, to w: HDF5Writer, done: Set<String>, store: FragmentStore) throws {
        let c = sweep.config, ck = c.checkpoints.map(\.name), langs = c.languages
        guard c.logitLens.tokens > 0 else { return }
        let layers = sweep.modelConfigs[ck[0]]!.nLayers + 1
        let (C, L) = (ck.count, langs.count)
        var fragments: [[LensFragment?]] = []
        for name in ck {
            fragments.append(try langs.map { lang in
                let id = SweepTask.lens(name, lang).id
                return done.contains(id) ? try LensFragment(reading: try store.reader(id), layers: layers, targets: L + 1) : nil
            })
        }
        let V = max(1, ck.map { sweep.modelConfigs[$0]!.vocabSize }.max() ?? 1)
        let T = max(1, fragments.flatMap { $0.compactMap { $0?.lensToken.count } }.max() ?? 1)
        try w.write("vocab", int64s: (0..<V).map(Int64.init), shape: [V])
        try w.makeScale("vocab", dimension: "vocab")
        try w.write("lens_token", int64s: (0..<T).map(Int64.init), shape: [T])
        try w.makeScale("lens_token", dimension: "lens_token")
        try w.write("target", strings: langs + ["unattributed"])
        try w.makeScale("target", dimension: "target")

        var tokenLanguage = [Int32](repeating: -2, count: C * V)
        var lensToken = [Int64](repeating: -1, count: C * L * T)
        var mass = [Double](repeating: .nan, count: C * L * layers * (L + 1)), accuracy = [Double](repeating: .nan, count: C * L * layers)
        for i in 0..<C {
            for j in 0..<L {
                guard let f = fragments[i][j] else { continue }
                // Every language's task attributes the same tokens (same tokenizer, same text): the first
                // written stands, and another that disagrees is a defect, not a value to pick from.
                guard f.tokenLanguage.count <= V else {
                    throw SweepError("\(SweepTask.lens(ck[i], langs[j])): \(f.tokenLanguage.count) vocabulary tokens, the model has \(V)")
                }
                if let first = fragments[i].prefix(j).compactMap({ $0 }).first {
                    guard first.tokenLanguage == f.tokenLanguage else {
                        throw SweepError("\(SweepTask.lens(ck[i], langs[j])): its token attribution differs from the checkpoint's other "
                            + "languages' (same tokenizer and text); rerun its lens tasks", code: .bug)
                    }
                } else {
                    tokenLanguage.replaceSubrange((i * V)..<(i * V + f.tokenLanguage.count), with: f.tokenLanguage)
                }
                let base = (i * L + j) * T
                lensToken.replaceSubrange(base..<(base + f.lensToken.count), with: f.lensToken)
                mass.replaceSubrange(((i * L + j) * layers * (L + 1))..<((i * L + j + 1) * layers * (L + 1)), with: f.mass)
                accuracy.replaceSubrange(((i * L + j) * layers)..<((i * L + j + 1) * layers), with: f.accuracy)
            }
        }
        try w.write("token_language", ints: tokenLanguage, shape: [C, V], chunk: [1, V], dimensions: SweepSchema.dimensions("token_language"))
        try w.setAttribute("meaning", "index into language of the token's language: at least \(c.logitLens.attributionShare) of its "
                           + "occurrences in every sweep language's probe text (tokenized by the checkpoint's tokenizer, special tokens "
                           + "left out) are in it, and it occurs at least \(c.logitLens.minOccurrences) times; -1 unattributed; "
                           + "-2 beyond the checkpoint's vocabulary or the lens did not run", on: "token_language")
        try w.write("logit_lens_token", int64s: lensToken, shape: [C, L, T], dimensions: SweepSchema.dimensions("logit_lens_token"))
        try w.setAttribute("meaning", "index into probe_token of the probe tokens read through the lens (a seeded sample of "
                           + "logit_lens.tokens); -1 padding", on: "logit_lens_token")
        try w.write("logit_lens_mass", doubles: mass, shape: [C, L, layers, L + 1], chunk: [1, 1, layers, L + 1],
                    dimensions: SweepSchema.dimensions("logit_lens_mass"))
        try w.setAttribute("meaning", "mean over the lens tokens of the softmax probability on the target language's tokens "
                           + "(token_language) when hidden.L goes through the model's final norm (not for the last layer, already "
                           + "normed) and head; fp32 softmax, sums in double", on: "logit_lens_mass")
        try w.write("logit_lens_accuracy", doubles: accuracy, shape: [C, L, layers], dimensions: SweepSchema.dimensions("logit_lens_accuracy"))
        try w.setAttribute("meaning", "share of the lens tokens that have a next token in their sentence whose lens top-1 is that "
                           + "next token", on: "logit_lens_accuracy")
    }
}
