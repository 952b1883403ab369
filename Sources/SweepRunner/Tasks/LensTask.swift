import Foundation
import Kernels
import Models
import Probing
import Store
import SweepCore

/// The logit lens of one (checkpoint, language): a seeded sample of the extraction's probe tokens,
/// every layer's hidden state read through the model's final norm and head, summarised as the
/// softmax's mean mass on each sweep language's tokens (and the unattributed ones) and how often
/// the lens's top-1 is the next token.
public struct LensFragment: Sendable {
    /// Per vocabulary id: the index of the sweep language it is attributed to, or −1.
    public var tokenLanguage: [Int32]
    /// Indices of the lens tokens among the extraction's probe tokens, ascending.
    public var lensToken: [Int64]
    /// Per lens token: the token after it in its sentence, −1 for a sentence's last token.
    public var nextToken: [Int64]
    /// `[layer, lens token]`: the lens's top-1 token.
    public var top: [Int64]
    /// `[layer, target]`: mean mass over the lens tokens, targets the sweep's languages then unattributed.
    public var mass: [Double]
    /// `[layer]`: share of the lens tokens with a next token whose top-1 is it (NaN when none has).
    public var accuracy: [Double]

    public func write(to w: HDF5Writer, layers: Int, targets: Int) throws {
        try w.write("token_language", ints: tokenLanguage, shape: [tokenLanguage.count])
        try w.write("lens_token", int64s: lensToken, shape: [lensToken.count])
        try w.write("next_token", int64s: nextToken, shape: [nextToken.count])
        try w.write("top", int64s: top, shape: [layers, lensToken.count])
        try w.write("mass", doubles: mass, shape: [layers, targets])
        try w.write("accuracy", doubles: accuracy, shape: [layers])
    }

    /// Reads a fragment, checking every shape: `layers` hidden states (n + 1), `targets` (languages + 1).
    public init(reading r: HDF5Reader, layers: Int, targets: Int) throws {
        tokenLanguage = try r.ints("token_language", shape: [nil]).map(Int32.init)
        lensToken = try r.ints("lens_token", shape: [nil])
        nextToken = try r.ints("next_token", shape: [lensToken.count])
        top = try r.ints("top", shape: [layers, lensToken.count])
        mass = try r.doubles("mass", shape: [layers, targets])
        accuracy = try r.doubles("accuracy", shape: [layers])
    }

    init(tokenLanguage: [Int32], lensToken: [Int64], nextToken: [Int64], top: [Int64], mass: [Double], accuracy: [Double]) {
        self.tokenLanguage = tokenLanguage
        self.lensToken = lensToken
        self.nextToken = nextToken
        self.top = top
        self.mass = mass
        self.accuracy = accuracy
    }
}

extension TaskRunner {
    /// The most lens tokens whose logits are held at once (128 × a 262k vocabulary: 134 MB).
    static let lensRows = 128

    func lens(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let config = m.config, lang = task.language!, tokenizer = m.tokenizer!
        let extract = try readExtract(task.checkpoint, lang, probe: true, pooled: false)
        // Where each probe token sits: the extraction's sample, drawn again from its seed over the
        // same tokenization, must give the tokens its fragment holds.
        let encoded = (data.probe[lang] ?? []).map { encode($0, tokenizer) }
        var kept: [(sentence: Int, position: Int)] = []
        for (s, e) in encoded.enumerated() { for (p, k) in e.keep.enumerated() where k { kept.append((s, p)) } }
        let extractSeed = SweepTask.extract(task.checkpoint, lang).seed(sweepSeed: sweep.config.seed)
        let probe = Self.sample(min(sweep.config.probe.tokensPerLanguage, kept.count), of: kept.count, seed: extractSeed)
        guard probe.count == extract.probeTokens,
              zip(probe, extract.probeTokenIDs).allSatisfy({ Int64(encoded[kept[$0].sentence].ids[kept[$0].position]) == $1 }) else {
            throw SweepError("\(SweepTask.extract(task.checkpoint, lang)): its probe tokens are not the sample its seed draws from "
                + "this tokenization (\(extract.probeTokens) held, \(probe.count) drawn); rerun the extraction", code: .bug)
        }
        let chosen = Self.sample(min(sweep.config.logitLens.tokens, extract.probeTokens), of: extract.probeTokens, seed: seed)
        let next: [Int64] = chosen.map { i in
            let (s, p) = kept[probe[i]]
            return p + 1 < encoded[s].ids.count ? Int64(encoded[s].ids[p + 1]) : -1
        }
        let attribution = try tokenAttribution(m)
        let L = sweep.config.languages.count, members = attribution.members(languages: L)
        let n = config.nLayers, d = config.dModel, vocab = config.vocabSize, T = chosen.count
        var mass = [Double](repeating: 0, count: (n + 1) * (L + 1)), top = [Int64](repeating: 0, count: (n + 1) * T)
        var accuracy = [Double](repeating: .nan, count: n + 1)
        let scored = next.filter { $0 >= 0 }.count   // lens tokens that have a next token
        // The tokens in equal chunks of at most `lensRows`: each chunk reads the whole head once, and
        // a short last chunk (200 = 64 + 64 + 64 + 8) would read it for a few rows.
        let chunks = max(1, (T + Self.lensRows - 1) / Self.lensRows), chunk = max(1, (T + chunks - 1) / chunks)
        let rows = FloatBuffer(count: chunk * d, uninitialized: true)
        let logits = FloatBuffer(count: chunk * vocab, uninitialized: true)
        for l in 0...n {
            var sums = [Double](repeating: 0, count: L + 1), hits = 0
            let hidden = extract.probeHidden[l]
            for start in stride(from: 0, to: T, by: chunk) {
                let count = min(chunk, T - start)
                for r in 0..<count {
                    let t = chosen[start + r]
                    hidden.withUnsafeBufferPointer { (rows.pointer + r * d).update(from: $0.baseAddress! + t * d, count: d) }
                }
                // hidden.n is already normed (as transformers returns it): only the head.
                m.model.lens(rows.pointer, rows: count, normed: l == n, into: logits.pointer)
                let reading = LensReading(logits: logits.pointer, rows: count, vocab: vocab, members: members)
                for r in 0..<count {
                    for j in 0...L { sums[j] += reading.mass[r * (L + 1) + j] }
                    top[l * T + start + r] = Int64(reading.top[r])
                    if next[start + r] >= 0 && Int64(reading.top[r]) == next[start + r] { hits += 1 }
                }
            }
            for j in 0...L { mass[l * (L + 1) + j] = T > 0 ? sums[j] / Double(T) : .nan }
            if scored > 0 { accuracy[l] = Double(hits) / Double(scored) }
        }
        let fragment = LensFragment(tokenLanguage: attribution.language, lensToken: chosen.map(Int64.init), nextToken: next,
                                    top: top, mass: mass, accuracy: accuracy)
        try write(task) {
            try fragment.write(to: $0, layers: n + 1, targets: L + 1)
        }
    }

    /// Which sweep language each vocabulary token is, from every language's probe text tokenized by
    /// the checkpoint's tokenizer (special tokens left out); kept while the checkpoint is in memory.
    func tokenAttribution(_ m: LoadedModel) throws -> TokenAttribution {
        let key = loaded?.tokenizer ?? ""
        if let a = attribution, a.tokenizer == key { return a.value }
        let tokenizer = m.tokenizer!
        let occurrences = sweep.config.languages.map { lang in
            (data.probe[lang] ?? []).flatMap { text -> [Int] in
                let (ids, keep) = encode(text, tokenizer)
                return zip(ids, keep).filter(\.1).map(\.0)
            }
        }
        let value = TokenAttribution(vocabSize: m.config.vocabSize, occurrences: occurrences,
                                     share: sweep.config.logitLens.attributionShare, minOccurrences: sweep.config.logitLens.minOccurrences)
        attribution = (key, value)
        return value
    }
}
