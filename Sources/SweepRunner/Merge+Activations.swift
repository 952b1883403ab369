import Foundation
import Store
import SweepCore

extension Merge {
    /// The directory of the file `w` writes (where the virtual datasets' relative paths start).
    static func directory(of w: HDF5Writer) -> String { (w.path as NSString).deletingLastPathComponent }

    /// The activations the extractions stored, copied in (the default: the file stands alone; one
    /// uncompressed chunk per checkpoint × language × layer slab, so such a slab reads at memory
    /// speed), or, with `embed` false, as HDF5 virtual datasets over the extract fragments (no copy;
    /// they read through to `fragments/`, whose files and checksums are listed in `virtual_source`
    /// and `virtual_source_sha256` for `xlsweep verify`):
    /// `probe_hidden [checkpoint, language, layer, probe_token, hidden]` with `probe_token_id` and
    /// `probe_token_sentence [checkpoint, language, probe_token]`, and `pooled_mlp [checkpoint,
    /// language, sentence, unit]` with rows at their pool sentence; ragged lengths are padded (NaN,
    /// −1) and counted (`probe_token_count`, `pooled_sentence_count`). Beside them, copied from the
    /// data set: `concept_labels [language, sentence, concept]`, `sentence_text [language, sentence]`
    /// and `probe_text [language, probe_sentence]`.
    static func writeActivations(_ sweep: ResolvedSweep, to w: HDF5Writer, done: Set<String>, store: FragmentStore, embed: Bool) throws {
        let c = sweep.config, ck = c.checkpoints.map(\.name), langs = c.languages, concepts = sweep.concepts
        let model = sweep.modelConfigs[ck[0]]!
        let (C, L, layers, d, width) = (ck.count, langs.count, model.nLayers, model.dModel, model.dMLP)
        var extracts: [[ExtractFragment?]] = []
        for name in ck {
            extracts.append(try langs.map { lang in
                let id = SweepTask.extract(name, lang).id
                return done.contains(id) ? try ExtractFragment(reading: try store.reader(id), model: model, probe: false, pooled: false) : nil
            })
        }
        let tokens = max(1, extracts.flatMap { $0.compactMap { $0?.probeTokens } }.max() ?? 1)
        let poolSize = max(1, langs.map { sweep.data.pool[$0]?.count ?? 0 }.max() ?? 1)
        let probeSize = max(1, langs.map { sweep.data.probe[$0]?.count ?? 0 }.max() ?? 1)
        for (name, n) in [("probe_token", tokens), ("hidden", d), ("sentence", poolSize), ("probe_sentence", probeSize)] {
            try w.write(name, int64s: (0..<n).map(Int64.init), shape: [n])
            try w.makeScale(name, dimension: name)
        }
        func file(_ i: Int, _ j: Int) -> String { "fragments/" + Fragment.fileName(task: SweepTask.extract(ck[i], langs[j]).id) }
        var hidden: [HDF5Writer.VirtualBlock] = [], ids: [HDF5Writer.VirtualBlock] = [], sources: [HDF5Writer.VirtualBlock] = []
        var pooled: [HDF5Writer.VirtualBlock] = [], rows: [HDF5Writer.VirtualBlock] = []
        var tokenCount = [Int64](repeating: 0, count: C * L), sentenceCount = tokenCount
        for i in 0..<C {
            for j in 0..<L {
                guard let e = extracts[i][j] else { continue }
                let t = e.probeTokens
                tokenCount[i * L + j] = Int64(t)
                sentenceCount[i * L + j] = Int64(e.sentences)
                if t > 0 {
                    for l in 0...layers {
                        hidden.append(.init(file: file(i, j), dataset: "probe/hidden.\(l)", start: [i, j, l, 0, 0], count: [1, 1, 1, t, d],
                                            sourceShape: [t, d], sourceStart: [0, 0], sourceCount: [t, d]))
                    }
                    ids.append(.init(file: file(i, j), dataset: "probe/token_id", start: [i, j, 0], count: [1, 1, t],
                                     sourceShape: [t], sourceStart: [0], sourceCount: [t]))
                    sources.append(.init(file: file(i, j), dataset: "probe/sentence", start: [i, j, 0], count: [1, 1, t],
                                         sourceShape: [t], sourceStart: [0], sourceCount: [t]))
                }
                // Pooled rows go to their pool sentence: one block per run of consecutive sentences.
                var r = 0
                while r < e.sentences {
                    var end = r + 1
                    while end < e.sentences && e.sentenceIndex[end] == e.sentenceIndex[end - 1] + 1 { end += 1 }
                    let first = Int(e.sentenceIndex[r]), length = end - r
                    for l in 0..<layers {
                        pooled.append(.init(file: file(i, j), dataset: "pooled/blocks.\(l).mlp_post", start: [i, j, first, l * width],
                                            count: [1, 1, length, width], sourceShape: [e.sentences, width], sourceStart: [r, 0],
                                            sourceCount: [length, width]))
                    }
                    rows.append(.init(file: file(i, j), dataset: "sentence_index", start: [i, j, first], count: [1, 1, length],
                                      sourceShape: [e.sentences], sourceStart: [r], sourceCount: [length]))
                    r = end
                }
            }
        }
        try w.writeVirtual("probe_hidden", type: .float32, shape: [C, L, layers + 1, tokens, d], blocks: hidden,
                           dimensions: ["checkpoint", "language", "layer", "probe_token", "hidden"], embed: embed,
                           chunk: [1, 1, 1, tokens, d], compress: false)
        try w.setAttribute("hook_site", "hidden.L at the sampled probe tokens", on: "probe_hidden")
        try w.writeVirtual("probe_token_id", type: .int64, shape: [C, L, tokens], blocks: ids,
                           dimensions: ["checkpoint", "language", "probe_token"], embed: embed)
        try w.writeVirtual("probe_token_sentence", type: .int64, shape: [C, L, tokens], blocks: sources,
                           dimensions: ["checkpoint", "language", "probe_token"], embed: embed)
        try w.setAttribute("meaning", "index into probe_text of the token's sentence; -1 padding", on: "probe_token_sentence")
        try w.write("probe_token_count", int64s: tokenCount, shape: [C, L], dimensions: SweepSchema.dimensions("probe_token_count"))
        try w.writeVirtual("pooled_mlp", type: .float32, shape: [C, L, poolSize, layers * width], blocks: pooled,
                           dimensions: ["checkpoint", "language", "sentence", "unit"], embed: embed,
                           chunk: [1, 1, poolSize, width], compress: false)
        try w.setAttribute("hook_site", "blocks.L.mlp_post pooled (\(c.expertise.pooling.rawValue)) over each sentence's kept tokens, "
                           + "units layer-major; NaN: sentence without kept tokens or not extracted", on: "pooled_mlp")
        try w.writeVirtual("pooled_sentence_index", type: .int64, shape: [C, L, poolSize], blocks: rows,
                           dimensions: ["checkpoint", "language", "sentence"], embed: embed)
        try w.write("pooled_sentence_count", int64s: sentenceCount, shape: [C, L], dimensions: SweepSchema.dimensions("pooled_sentence_count"))
        // A virtual dataset whose fragments are not beside the file reads as fill values, silently: say
        // so on it, and list what it reads with the checksums recorded when each fragment was written.
        for name in ["probe_hidden", "probe_token_id", "probe_token_sentence", "pooled_mlp", "pooled_sentence_index"] {
            try w.setAttribute("storage", embed ? "copied in: the file stands alone"
                               : "virtual: reads fragments/extract+*.h5 beside this file; without them HDF5 reads NaN / -1 fill values "
                               + "(keep fragments/ with sweep.h5 and check with `xlsweep verify`, or merge --embed-activations "
                               + "for a file that stands alone)", on: name)
        }
        if !embed {
            var files: [String] = []
            for i in 0..<C { for j in 0..<L where extracts[i][j] != nil { files.append(file(i, j)) } }
            let digests = try files.map { f -> String in
                let sum = directory(of: w) + "/" + f + ".sha256"
                guard let text = try? String(contentsOfFile: sum, encoding: .utf8) else { throw SweepError("\(sum): cannot read the fragment's checksum") }
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            try w.write("virtual_source", strings: files)
            try w.makeScale("virtual_source", dimension: "virtual_source")
            try w.write("virtual_source_sha256", strings: digests, dimensions: SweepSchema.dimensions("virtual_source_sha256"))
        }
        var labels = [Int32](repeating: -1, count: L * poolSize * concepts.count)
        var texts = [String](repeating: "", count: L * poolSize), probeTexts = [String](repeating: "", count: L * probeSize)
        for (j, lang) in langs.enumerated() {
            for (s, sentence) in (sweep.data.pool[lang] ?? []).enumerated() {
                texts[j * poolSize + s] = sentence.text
                for (k, concept) in concepts.enumerated() { labels[(j * poolSize + s) * concepts.count + k] = sentence.concepts.contains(concept) ? 1 : 0 }
            }
            for (s, text) in (sweep.data.probe[lang] ?? []).enumerated() { probeTexts[j * probeSize + s] = text }
        }
        try w.write("concept_labels", ints: labels, shape: [L, poolSize, concepts.count], dimensions: SweepSchema.dimensions("concept_labels"))
        try w.setAttribute("meaning", "1: the sentence is a positive of the concept; -1: padding", on: "concept_labels")
        try w.write("sentence_text", strings: texts, shape: [L, poolSize], dimensions: SweepSchema.dimensions("sentence_text"))
        try w.write("probe_text", strings: probeTexts, shape: [L, probeSize], dimensions: SweepSchema.dimensions("probe_text"))
    }
}
