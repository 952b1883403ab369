import Foundation
import Kernels

/// How the next token is chosen from logits.
public struct SamplingOptions: Sendable, Equatable {
    public var greedy: Bool
    public var temperature: Double
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int
    /// Keep the smallest most-likely set whose probability reaches p (1: all).
    public var topP: Double

    public init(greedy: Bool = false, temperature: Double = 1, topK: Int = 0, topP: Double = 1) {
        self.greedy = greedy
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public static let greedyDecoding = SamplingOptions(greedy: true)

    /// The next token. Greedy: the first maximum (as torch.argmax). Sampling: softmax of
    /// logits / T in double, top-k then top-p over tokens sorted by probability (ties: lower id
    /// first), one uniform draw walked along the kept tokens' cumulative probability.
    public func choose(_ logits: ArraySlice<Float>, rng: inout SplitMix64) -> Int {
        let base = logits.startIndex
        if greedy || temperature <= 0 {
            var best = base
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return best - base
        }
        let maxLogit = Double(logits.max() ?? 0)
        var probs = logits.map { exp((Double($0) - maxLogit) / temperature) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        var order = probs.indices.sorted { probs[$0] != probs[$1] ? probs[$0] > probs[$1] : $0 < $1 }
        if topK > 0 && topK < order.count { order = Array(order[..<topK]) }
        if topP < 1 {
            var cumulative = 0.0
            var keep = 0
            for id in order {
                cumulative += probs[id]
                keep += 1
                if cumulative >= topP { break }
            }
            order = Array(order[..<keep])
        }
        let kept = order.reduce(0.0) { $0 + probs[$1] }
        let u = rng.nextUniform() * kept
        var cumulative = 0.0
        for id in order {
            cumulative += probs[id]
            if u < cumulative { return id }
        }
        return order[order.count - 1]
    }
}

/// Text continuation with a KV cache (or, for checking, by re-running the whole sequence).
public struct Generator: Sendable {
    public let model: any LanguageModel
    public init(model: any LanguageModel) { self.model = model }

    /// New token ids after `prompt`: at most `maxNewTokens`, stopping after `stopToken` if given.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions, seed: UInt64,
                         interventions: Interventions = Interventions(), stopToken: Int? = nil,
                         useCache: Bool = true) throws -> [Int] {
        guard !prompt.isEmpty else { throw ForwardError("generation needs a prompt of at least one token (e.g. BOS)") }
        var rng = SplitMix64(seed: seed)
        let request = ForwardRequest(interventions: interventions, logits: .lastPosition)
        let cache = model.makeCache()
        var generated: [Int] = []
        var pending = prompt
        for _ in 0..<maxNewTokens {
            let result = useCache
                ? try model.forward([pending], caches: [cache], request: request)
                : try model.forward([prompt + generated], request: request)
            let next = sampling.choose(result.logits[...], rng: &rng)
            generated.append(next)
            pending = [next]
            if next == stopToken { break }
        }
        return generated
    }

    /// One continuation of `prompt` per seed, all advanced together: one forward per step over the
    /// unfinished sequences, so the output head's weights are read once per step, not once per
    /// sample. Each sequence has its own cache and random stream (the sample for seed s is drawn as
    /// by `generate(seed: s)`; batched products may round differently in the last bit).
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions, seeds: [UInt64],
                         interventions: Interventions = Interventions(), stopToken: Int? = nil) throws -> [[Int]] {
        guard !prompt.isEmpty else { throw ForwardError("generation needs a prompt of at least one token (e.g. BOS)") }
        let request = ForwardRequest(interventions: interventions, logits: .lastPosition)
        let vocab = model.config.vocabSize
        var rngs = seeds.map { SplitMix64(seed: $0) }
        let caches = seeds.map { _ in model.makeCache() }
        var generated = seeds.map { _ in [Int]() }
        var pending = seeds.map { _ in prompt }
        var active = Array(seeds.indices)
        for _ in 0..<maxNewTokens where !active.isEmpty {
            let result = try model.forward(active.map { pending[$0] }, caches: active.map { caches[$0] }, request: request)
            var unfinished: [Int] = []
            for (row, s) in active.enumerated() {
                let next = sampling.choose(result.logits[(row * vocab)..<((row + 1) * vocab)], rng: &rngs[s])
                generated[s].append(next)
                pending[s] = [next]
                if next != stopToken { unfinished.append(s) }
            }
            active = unfinished
        }
        return generated
    }
}
