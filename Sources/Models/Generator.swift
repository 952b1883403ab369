import Dispatch
import Foundation
import Kernels

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

    /// One continuation of `prompt` per seed, all advanced together: the prompt's forward once for
    /// all of them, then one forward per step over the unfinished sequences, so the weights are
    /// read once per step, not once per sample, and the products are matrix products, not
    /// matrix-vector ones. The samples' draws are split across
    /// the kernel threads (each sample has its own stream, so the split changes nothing). Each
    /// sequence has its own cache and random stream (the sample for seed s is drawn as by
    /// `generate(seed: s)`, the same tokens: a row's bits do not depend on its batch).
    /// `profile`, when given, receives the seconds spent in forwards and in sampling.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions, seeds: [UInt64],
                         interventions: Interventions = Interventions(), stopToken: Int? = nil,
                         profile: GenerationProfile? = nil) throws -> [[Int]] {
        guard !prompt.isEmpty else { throw ForwardError("generation needs a prompt of at least one token (e.g. BOS)") }
        let vocab = model.config.vocabSize
        // One buffer for every step's logits (a step's are read before the next step writes).
        let logitsBuffer = FloatBuffer(count: seeds.count * vocab, uninitialized: true)
        let request = ForwardRequest(interventions: interventions, logits: .lastPosition, logitsOutput: logitsBuffer)
        var rngs = seeds.map { SplitMix64(seed: $0) }
        // Each cache holds exactly the prompt and the new tokens (grown by doubling, 100 caches of 21
        // positions would take 32 each: a third of them unused).
        let caches = seeds.map { _ in model.makeCache() }
        for cache in caches { cache.reserve(prompt.count + maxNewTokens) }
        var generated = seeds.map { _ in [Int]() }
        var pending = seeds.map { _ in prompt }
        var active = Array(seeds.indices)
        let threads = max(1, min(kernelThreads, seeds.count))
        var workspaces = (0..<threads).map { _ in SamplingWorkspace() }
        defer { for w in workspaces { w.release() } }
        var next = [Int](repeating: 0, count: seeds.count)
        for step in 0..<maxNewTokens where !active.isEmpty {
            let t0 = DispatchTime.now().uptimeNanoseconds
            // The first step's sequences are all the prompt, under the same interventions: one
            // forward serves them all (a row's bits do not depend on its batch), its cache copied
            // to every sample's and every sample drawing from its logits.
            let shared = step == 0 && active.count > 1
            let result: ForwardResult
            if shared {
                result = try model.forward([prompt], caches: [caches[active[0]]], request: request)
                for s in active.dropFirst() { caches[s].copy(from: caches[active[0]]) }
            } else {
                result = try model.forward(active.map { pending[$0] }, caches: active.map { caches[$0] }, request: request)
            }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let rows = active
            rngs.withUnsafeMutableBufferPointer { r in
                next.withUnsafeMutableBufferPointer { out in
                    workspaces.withUnsafeMutableBufferPointer { ws in
                        result.logits.withUnsafeBufferPointer { returned in
                            let (rp, op, wp) = (SharedPointer(r.baseAddress!), SharedPointer(out.baseAddress!), SharedPointer(ws.baseAddress!))
                            let lp = SharedPointer(returned.isEmpty ? logitsBuffer.pointer : UnsafeMutablePointer(mutating: returned.baseAddress!))
                            DispatchQueue.concurrentPerform(iterations: threads) { c in
                                let lo = rows.count * c / threads, hi = rows.count * (c + 1) / threads
                                for row in lo..<hi {
                                    let s = rows[row]
                                    let slice = UnsafeBufferPointer(start: lp.base + (shared ? 0 : row) * vocab, count: vocab)
                                    op.base[s] = sampling.choose(slice, rng: &rp.base[s], workspace: &wp.base[c])
                                }
                            }
                        }
                    }
                }
            }
            profile?.add(forward: t1 - t0, sampling: DispatchTime.now().uptimeNanoseconds - t1)
            var unfinished: [Int] = []
            for s in active {
                generated[s].append(next[s])
                pending[s] = [next[s]]
                if next[s] != stopToken { unfinished.append(s) }
            }
            active = unfinished
        }
        return generated
    }
}

/// Where a batched generation's time went (seconds), for benchmarks.
public final class GenerationProfile: @unchecked Sendable {
    public private(set) var forwardSeconds = 0.0
    public private(set) var samplingSeconds = 0.0
    public init() {}
    func add(forward: UInt64, sampling: UInt64) {
        forwardSeconds += Double(forward) / 1e9
        samplingSeconds += Double(sampling) / 1e9
    }
}
