import Foundation
import Kernels
import Models
import Probing
import Store
import SweepCore

/// What one extraction (checkpoint, language) leaves for the tasks after it: the probe tokens'
/// hidden states at every layer, and every concept sentence's pooled MLP activations.
public struct ExtractFragment: Sendable {
    /// Per layer `hidden.0…n`: `[probe tokens, dModel]` (the seeded sample of kept tokens).
    public var probeHidden: [[Float]]
    /// Per probe token: its token id and the probe sentence it came from.
    public var probeTokenIDs: [Int64]
    public var probeSentence: [Int64]
    /// Per MLP layer `blocks.L.mlp_post`: `[sentences, dMLP]`, pooled over each sentence's kept tokens.
    public var pooled: [[Float]]
    /// Per pooled row: the index of its sentence in the language's concept pool (sentences that
    /// keep no token are left out).
    public var sentenceIndex: [Int64]
    /// Per MLP unit (`[layers, dMLP]`, layer-major): over how many of the pool's kept tokens its
    /// `mlp_post` activation is positive, and of how many tokens (LAPE's counts).
    public var activeCount: [Int64] = []
    public var activeTokens: Int64 = 0
    /// Provenance of the forward passes.
    public var weightsFingerprint = "", tokenizerFingerprint = "", precision = "", productKernels = ""

    public var probeTokens: Int { probeTokenIDs.count }
    public var sentences: Int { sentenceIndex.count }

    public init(probeHidden: [[Float]], probeTokenIDs: [Int64], probeSentence: [Int64], pooled: [[Float]], sentenceIndex: [Int64]) {
        self.probeHidden = probeHidden
        self.probeTokenIDs = probeTokenIDs
        self.probeSentence = probeSentence
        self.pooled = pooled
        self.sentenceIndex = sentenceIndex
    }

    public func write(to w: HDF5Writer, model m: ModelConfig, storage: HDF5Writer.FloatStorage = .float32) throws {
        try w.createGroup("probe")
        for (l, rows) in probeHidden.enumerated() {
            try w.write("probe/hidden.\(l)", floats: rows, shape: [probeTokens, m.dModel], chunk: [256, m.dModel], storage: storage)
        }
        try w.write("probe/token_id", int64s: probeTokenIDs, shape: [probeTokens])
        try w.write("probe/sentence", int64s: probeSentence, shape: [probeTokens])
        try w.createGroup("pooled")
        for (l, rows) in pooled.enumerated() {
            try w.write("pooled/blocks.\(l).mlp_post", floats: rows, shape: [sentences, m.dMLP], chunk: [64, m.dMLP], storage: storage)
        }
        try w.write("sentence_index", int64s: sentenceIndex, shape: [sentences])
        try w.createGroup("lape")
        try w.write("lape/active_count", int64s: activeCount, shape: [m.nLayers, m.dMLP])
        try w.write("lape/tokens", int64s: [activeTokens], shape: [1])
        try w.setAttribute("weights_fingerprint", weightsFingerprint)
        try w.setAttribute("tokenizer_fingerprint", tokenizerFingerprint)
        try w.setAttribute("weights_precision", precision)
        try w.setAttribute("product_kernels", productKernels)
    }

    /// Reads a fragment, checking every shape against the model the plan has for its checkpoint.
    /// `probe: false` skips the probe tokens (expertise and alignment need only the pool).
    public init(reading r: HDF5Reader, model m: ModelConfig, probe: Bool = true, pooled readPooled: Bool = true) throws {
        sentenceIndex = try r.ints("sentence_index", shape: [nil])
        let n = sentenceIndex.count
        probeTokenIDs = try r.ints("probe/token_id", shape: [nil])
        let t = probeTokenIDs.count
        probeSentence = try r.ints("probe/sentence", shape: [t])
        probeHidden = probe ? try (0...m.nLayers).map { try r.floats("probe/hidden.\($0)", shape: [t, m.dModel]) } : []
        pooled = readPooled ? try (0..<m.nLayers).map { try r.floats("pooled/blocks.\($0).mlp_post", shape: [n, m.dMLP]) } : []
        (weightsFingerprint, tokenizerFingerprint, precision, productKernels) = Self.provenance(r)
    }

    /// Reads only LAPE's counts: positive activations per unit `[layers · dMLP]`, and tokens.
    public static func activationCounts(_ r: HDF5Reader, model m: ModelConfig) throws -> (active: [Int64], tokens: Int64) {
        (try r.ints("lape/active_count", shape: [m.nLayers, m.dMLP]), try r.ints("lape/tokens", shape: [1])[0])
    }

    /// Reads only the provenance attributes.
    public static func provenance(_ r: HDF5Reader) -> (weights: String, tokenizer: String, precision: String, kernels: String) {
        ((try? r.attribute("weights_fingerprint")) ?? "", (try? r.attribute("tokenizer_fingerprint")) ?? "",
         (try? r.attribute("weights_precision")) ?? "", (try? r.attribute("product_kernels")) ?? "")
    }

    /// The pooled activations as the probing core's sentence pool.
    public func pool() throws -> SentencePool {
        try SentencePool(sentences: sentences, layers: pooled.enumerated().map { (layer: $0.offset, activations: $0.element) })
    }
}

extension TaskRunner {
    /// A seeded sample of `k` of `0..<count`, ascending (a Fisher–Yates shuffle's first `k`): the
    /// extraction's probe tokens, and the logit lens's share of them.
    static func sample(_ k: Int, of count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return order.prefix(k).sorted()
    }

    func readExtract(_ checkpoint: String, _ language: String, probe: Bool = true, pooled: Bool = true) throws -> ExtractFragment {
        try ExtractFragment(reading: try store.reader(SweepTask.extract(checkpoint, language).id), model: sweep.modelConfigs[checkpoint]!,
                            probe: probe, pooled: pooled)
    }

    func extract(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let lang = task.language!
        let n = m.config.nLayers
        let hidden = (0...n).map { HookSite.hidden($0) }
        // Probe tokens: a seeded sample of every kept token of the probe sentences. The sample
        // depends only on how many tokens are kept, so it is drawn before the forward passes and
        // only the chosen tokens' rows are kept (not every probe token's hidden states at every layer).
        let probeTexts = data.probe[lang] ?? []
        let tokenizer = m.tokenizer!
        let count = probeTexts.reduce(0) { $0 + encode($1, tokenizer).keep.filter { $0 }.count }
        guard count >= 2 else { throw SweepError("language \(lang): fewer than 2 probe tokens") }
        let chosen = Self.sample(min(sweep.config.probe.tokensPerLanguage, count), of: count, seed: seed)
        let d = m.config.dModel
        var probeHidden: [[Float]] = Array(repeating: [], count: n + 1)
        for l in 0...n { probeHidden[l].reserveCapacity(chosen.count * d) }
        var probeIDs: [Int64] = [], probeSentence: [Int64] = []
        var next = 0, seen = 0   // the next chosen token; kept tokens passed so far
        try activations(probeTexts, sites: hidden, model: m) { index, rows, kept in
            for t in kept.indices {
                defer { seen += 1 }
                guard next < chosen.count, chosen[next] == seen else { continue }
                next += 1
                for (l, site) in hidden.enumerated() { probeHidden[l] += rows[site]!.row(t) }
                probeIDs.append(Int64(kept[t]))
                probeSentence.append(Int64(index))
            }
        }
        guard seen == count, next == chosen.count else {
            throw SweepError("language \(lang): the forward passes kept \(seen) probe tokens, tokenizing kept \(count)")
        }
        // Concept pool: pooled MLP activations of every layer.
        let mlp = (0..<n).map { HookSite.mlpPost($0) }
        var pooled: [[Float]] = Array(repeating: [], count: n)
        let pooling: Pooling = sweep.config.expertise.pooling == .mean ? .mean : .max
        var used: [Int64] = []
        let width = m.config.dMLP
        // Room for every sentence up front: grown by doubling, the pool would briefly take twice its size.
        for l in 0..<n { pooled[l].reserveCapacity((data.pool[lang] ?? []).count * width) }
        var active = [Int64](repeating: 0, count: n * width), poolTokens: Int64 = 0
        try activations((data.pool[lang] ?? []).map(\.text), sites: mlp, model: m) { index, rows, kept in
            guard !kept.isEmpty else { return }
            used.append(Int64(index))
            poolTokens += Int64(kept.count)
            try active.withUnsafeMutableBufferPointer { a in
                for (l, site) in mlp.enumerated() {
                    pooled[l] += try pooling.pool(rows[site]!.keptRows, lengths: [kept.count], units: width,
                                                  countingPositivesInto: a.baseAddress! + l * width)
                }
            }
        }
        var fragment = ExtractFragment(probeHidden: probeHidden, probeTokenIDs: probeIDs,
                                       probeSentence: probeSentence, pooled: pooled, sentenceIndex: used)
        fragment.activeCount = active
        fragment.activeTokens = poolTokens
        fragment.weightsFingerprint = m.fingerprint
        fragment.tokenizerFingerprint = loaded?.tokenizer ?? ""
        fragment.precision = m.precision.rawValue
        fragment.productKernels = m.precision == .bf16 ? "bf16 \(KernelPath.active) (\(KernelPath.active.numerics) numerics)"
                                                       : "\(KernelPath.fp32Summary) (portable numerics)"
        try write(task) {
            try fragment.write(to: $0, model: m.config, storage: sweep.config.activationStorage)
        }
    }
}
