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
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        return logits.withUnsafeBufferPointer { choose($0, rng: &rng, workspace: &workspace) }
    }

    /// `choose` over `logits` `[vocab]`, reusing `workspace`'s buffers (one workspace per thread).
    /// The order is found by a radix sort of the logits (softmax keeps their order), checked
    /// against the probabilities and mended where they tie, so the token is the one the
    /// comparison sort of `chooseReference` gives, bit for bit, at a fraction of its cost over a
    /// 262k vocabulary.
    public func choose(_ logits: UnsafeBufferPointer<Float>, rng: inout SplitMix64, workspace w: inout SamplingWorkspace) -> Int {
        let n = logits.count
        if greedy || temperature <= 0 {
            var best = 0
            for i in 0..<n where logits[i] > logits[best] { best = i }
            return best
        }
        let maxLogit = Double(logits.max() ?? 0)
        w.reserve(n)
        let t = temperature
        var total = 0.0
        for i in 0..<n {
            let p = exp((Double(logits[i]) - maxLogit) / t)
            w.probs[i] = p
            total += p
        }
        let count = w.sortDescending(logits, dividedBy: total)
        let sorted = w.sorted, order = w.order
        var limit = topK > 0 && topK < count ? topK : count
        // The kept tokens' sum, added in the same order as the walk below (so the same bits).
        var kept = 0.0
        if topP < 1 {
            var keep = 0
            for k in 0..<limit {
                kept += sorted[k]
                keep += 1
                if kept >= topP { break }
            }
            limit = keep
        } else {
            for k in 0..<limit { kept += sorted[k] }
        }
        let u = rng.nextUniform() * kept
        var cumulative = 0.0
        for k in 0..<limit {
            cumulative += sorted[k]
            if u < cumulative { return Int(order[k]) }
        }
        return Int(order[limit - 1])
    }

    /// The specification `choose` follows, written plainly: a comparison sort of every token by
    /// (probability descending, id ascending). Tests check `choose` against it.
    public func chooseReference(_ logits: ArraySlice<Float>, rng: inout SplitMix64) -> Int {
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

/// Buffers of one sampling thread: the probabilities (by token id and in sorted order), and the
/// token order with the radix sort's scratch. Reused from token to token, so a step allocates nothing.
public struct SamplingWorkspace {
    var probs: UnsafeMutablePointer<Double>
    var sorted: UnsafeMutablePointer<Double>
    var order: UnsafeMutablePointer<Int32>
    var items: UnsafeMutablePointer<UInt64>
    var itemScratch: UnsafeMutablePointer<UInt64>
    var counts: UnsafeMutablePointer<Int>
    var capacity = 0
    /// How often the radix order disagreed with the probabilities (and the comparison sort ran).
    public private(set) var fallbacks = 0

    public init() {
        probs = .allocate(capacity: 0); sorted = .allocate(capacity: 0); order = .allocate(capacity: 0)
        items = .allocate(capacity: 0); itemScratch = .allocate(capacity: 0)
        counts = .allocate(capacity: 2048)
    }

    /// Frees the buffers (the workspace is a value that does not own them automatically).
    public func release() {
        probs.deallocate(); sorted.deallocate(); order.deallocate(); items.deallocate(); itemScratch.deallocate()
        counts.deallocate()
    }

    mutating func reserve(_ n: Int) {
        guard n > capacity else { return }
        probs.deallocate(); sorted.deallocate(); order.deallocate(); items.deallocate(); itemScratch.deallocate()
        probs = .allocate(capacity: n); sorted = .allocate(capacity: n); order = .allocate(capacity: n)
        items = .allocate(capacity: n); itemScratch = .allocate(capacity: n)
        capacity = n
    }

    /// Fills `order[0..<n]` with the token ids by (probability descending, id ascending), and
    /// `sorted` with their probabilities, `probs[id] / total` (`probs` holds the unnormalised ones). A stable LSD
    /// radix sort (three 11-bit digits; a digit every key shares is skipped) of (logit key, id)
    /// pairs orders the ids by logit descending — ids ascending among equal logits — which
    /// softmax preserves; runs of equal probabilities (logits that differ but round to one
    /// probability, ±0) are then put in id order, and if any probability is out of order (a NaN,
    /// or an exp that is not monotonic) the comparison sort decides instead. Returns n.
    mutating func sortDescending(_ logits: UnsafeBufferPointer<Float>, dividedBy total: Double) -> Int {
        let n = logits.count
        // Descending float order as ascending unsigned keys (larger floats first), the id below.
        for i in 0..<n {
            let bits = logits[i].bitPattern
            let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            items[i] = UInt64(~ascending) << 32 | UInt64(i)
        }
        for shift in [32, 43, 54] as [UInt64] {
            for i in 0..<2048 { counts[i] = 0 }
            for i in 0..<n { counts[Int((items[i] >> shift) & 0x7FF)] += 1 }
            if counts[Int((items[0] >> shift) & 0x7FF)] == n { continue }   // every key has this digit
            var sum = 0
            for i in 0..<2048 { let c = counts[i]; counts[i] = sum; sum += c }
            for i in 0..<n {
                let item = items[i]
                let digit = Int((item >> shift) & 0x7FF)
                itemScratch[counts[digit]] = item
                counts[digit] += 1
            }
            swap(&items, &itemScratch)
        }
        for k in 0..<n {
            let id = Int32(truncatingIfNeeded: items[k])
            order[k] = id
            sorted[k] = probs[Int(id)] / total
        }
        // Check the order against the probabilities; put tied runs in id order.
        var k = 0
        while k < n - 1 {
            let p = sorted[k], q = sorted[k + 1]
            if p > q { k += 1; continue }
            guard p == q else { return comparisonSort(n, total: total) }
            var end = k + 1
            while end + 1 < n && sorted[end + 1] == p { end += 1 }
            var run = UnsafeMutableBufferPointer(start: order + k, count: end - k + 1)
            run.sort()
            k = end
        }
        return n
    }

    /// The comparison sort of the specification, into `order` and `sorted`.
    mutating func comparisonSort(_ n: Int, total: Double) -> Int {
        fallbacks += 1
        let p = probs
        for i in 0..<n { p[i] /= total }
        let ids = (0..<n).sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
        for (k, id) in ids.enumerated() {
            order[k] = Int32(id)
            sorted[k] = p[id]
        }
        return n
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
    /// unfinished sequences, so the weights are read once per step, not once per sample, and the
    /// products are matrix products, not matrix-vector ones. The samples' draws are split across
    /// the kernel threads (each sample has its own stream, so the split changes nothing). Each
    /// sequence has its own cache and random stream (the sample for seed s is drawn as by
    /// `generate(seed: s)`; batched products may round differently in the last bit).
    /// `profile`, when given, receives the seconds spent in forwards and in sampling.
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions, seeds: [UInt64],
                         interventions: Interventions = Interventions(), stopToken: Int? = nil,
                         profile: GenerationProfile? = nil) throws -> [[Int]] {
        guard !prompt.isEmpty else { throw ForwardError("generation needs a prompt of at least one token (e.g. BOS)") }
        let request = ForwardRequest(interventions: interventions, logits: .lastPosition)
        let vocab = model.config.vocabSize
        var rngs = seeds.map { SplitMix64(seed: $0) }
        let caches = seeds.map { _ in model.makeCache() }
        var generated = seeds.map { _ in [Int]() }
        var pending = seeds.map { _ in prompt }
        var active = Array(seeds.indices)
        let threads = max(1, min(kernelThreads, seeds.count))
        var workspaces = (0..<threads).map { _ in SamplingWorkspace() }
        defer { for w in workspaces { w.release() } }
        var next = [Int](repeating: 0, count: seeds.count)
        for _ in 0..<maxNewTokens where !active.isEmpty {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let result = try model.forward(active.map { pending[$0] }, caches: active.map { caches[$0] }, request: request)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let rows = active
            rngs.withUnsafeMutableBufferPointer { r in
                next.withUnsafeMutableBufferPointer { out in
                    workspaces.withUnsafeMutableBufferPointer { ws in
                        result.logits.withUnsafeBufferPointer { logits in
                            let (rp, op, wp) = (SharedPointer(r.baseAddress!), SharedPointer(out.baseAddress!), SharedPointer(ws.baseAddress!))
                            let lp = SharedPointer(UnsafeMutablePointer(mutating: logits.baseAddress!))
                            DispatchQueue.concurrentPerform(iterations: threads) { c in
                                let lo = rows.count * c / threads, hi = rows.count * (c + 1) / threads
                                for row in lo..<hi {
                                    let s = rows[row]
                                    let slice = UnsafeBufferPointer(start: lp.base + row * vocab, count: vocab)
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
