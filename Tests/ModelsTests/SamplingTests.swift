import Foundation
import Kernels
import XCTest
@testable import Models

/// The sampler's fast path (a weighted histogram of integer weights, no sort) chooses exactly what
/// the plain specification — a comparison sort of every token by (weight descending, id
/// ascending) — chooses, and what it chooses follows the renormalised softmax.
final class SamplingTests: XCTestCase {
    /// Logits of awkward kinds: random, with many exact ties, ±0, all equal, a single token,
    /// tiny values next to a large one (probabilities that round equal), one NaN.
    func logitCases() -> [(String, [Float])] {
        var rng = SplitMix64(seed: 11)
        func normal() -> Float { Float((rng.nextUniform() + rng.nextUniform() + rng.nextUniform() - 1.5) * 2) }
        var cases: [(String, [Float])] = []
        cases.append(("random 50k", (0..<50_000).map { _ in normal() }))
        cases.append(("ties", (0..<5_000).map { _ in Float(Int(rng.next() % 7)) * 0.5 - 1 }))
        cases.append(("signed zeros", (0..<1_000).map { i in i % 3 == 0 ? 0.0 : i % 3 == 1 ? -0.0 : normal() }))
        cases.append(("all equal", [Float](repeating: 0.25, count: 777)))
        cases.append(("one token", [3.5]))
        cases.append(("tiny beside large", (0..<2_000).map { i in i == 17 ? 30 : Float(i % 5) * 1e-12 }))
        cases.append(("peaked", (0..<10_000).map { i in i % 1_000 == 3 ? 12 : normal() }))
        cases.append(("negative", (0..<3_000).map { _ in -abs(normal()) - 100 }))
        cases.append(("NaN and -inf among", (0..<4_001).map { i in i % 97 == 5 ? .nan : i % 89 == 1 ? -.infinity : normal() }))
        cases.append(("wide range", (0..<20_000).map { _ in normal() * 20 }))
        return cases
    }

    func testFastSamplerChoosesWhatTheSpecificationChooses() {
        let options = [SamplingOptions(temperature: 0.8, topP: 0.9), SamplingOptions(temperature: 1, topK: 50, topP: 0.95),
                       SamplingOptions(temperature: 0.3), SamplingOptions(temperature: 2, topK: 3), SamplingOptions(greedy: true),
                       SamplingOptions(temperature: 0.8, topP: 0.2)]
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        for (name, logits) in logitCases() {
            for (o, sampling) in options.enumerated() {
                for seed in UInt64(0)..<20 {
                    var fast = SplitMix64(seed: seed), plain = SplitMix64(seed: seed)
                    let a = logits.withUnsafeBufferPointer { sampling.choose($0, rng: &fast, workspace: &workspace) }
                    let b = sampling.chooseReference(logits[...], rng: &plain)
                    XCTAssertEqual(a, b, "\(name), options \(o), seed \(seed)")
                    XCTAssertEqual(fast.state, plain.state, "the same draws from the stream")
                }
            }
        }
    }

    /// Where the kept set ends (`boundary`: the last kept token's weight and id, and the kept
    /// weight) is where walking every token sorted by (weight descending, id ascending) ends it —
    /// also when the boundary bucket holds tens of thousands of tokens and is split several times
    /// before any are sorted (flat logits, as a random-weight model's), and when the rule does not
    /// end before the last token.
    func testBoundaryIsWhereTheSortedWalkEnds() {
        var rng = SplitMix64(seed: 5)
        var cases = logitCases()
        cases.append(("flat 100k", (0..<100_000).map { _ in Float(rng.nextUniform() * 0.05) }))
        cases.append(("flat with ties", (0..<60_000).map { _ in Float(Int(rng.next() % 3)) * 1e-3 }))
        let options = [SamplingOptions(temperature: 0.8, topP: 0.9), SamplingOptions(temperature: 1, topK: 50, topP: 0.95),
                       SamplingOptions(temperature: 2, topK: 3), SamplingOptions(temperature: 0.8, topP: 0.2),
                       SamplingOptions(temperature: 1, topK: 30_000), SamplingOptions(temperature: 1, topP: 0.999_999)]
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        for (name, logits) in cases {
            let n = logits.count
            for (o, sampling) in options.enumerated() {
                guard let sw = logits.withUnsafeBufferPointer({ SamplingWeights($0, temperature: sampling.temperature) }) else { continue }
                workspace.reserve(n)
                let counted = SamplingOptions.KeepRule(sampling, count: n, total: 0).limit < n
                let total = logits.withUnsafeBufferPointer { workspace.weigh($0, sw, countTokens: counted) }
                let rule = SamplingOptions.KeepRule(sampling, count: n, total: total)
                guard rule.limit < n || rule.p != nil else { continue }
                let got = workspace.boundary(rule)
                let w = (0..<n).map { workspace.weights[$0] }
                var kept = 0, weight: UInt64 = 0, last = 0
                for id in (0..<n).sorted(by: { w[$0] != w[$1] ? w[$0] > w[$1] : $0 < $1 }) {
                    last = id
                    kept += 1
                    weight += w[id]
                    if rule.ends(count: kept, weight: weight) { break }
                }
                XCTAssertEqual(got.id, last, "\(name), options \(o)")
                XCTAssertEqual(got.weight, w[last], "\(name), options \(o)")
                XCTAssertEqual(got.kept, weight, "\(name), options \(o)")
            }
        }
    }

    /// The weighing pass — weights, buckets, the histograms of weight and count, the total — is
    /// the same whichever code computes it: Swift's vector loop (below AVX-512), C's AVX-512 loop
    /// and C's scalar lanes, on every awkward case, at two temperatures, counting tokens or not.
    func testWeighingPassIsTheSameInSwiftAndC() {
        var swift = SamplingWorkspace(), c = SamplingWorkspace()
        defer { swift.release(); c.release() }
        let levels: [KernelPath] = [.generic] + (KernelPath.fp32 >= .avx512 ? [.avx512] : [])
        let tables = SamplingWorkspace.bucketCount
        for (name, logits) in logitCases() {
            for temperature in [0.8, 0.3] {
                guard let sw = logits.withUnsafeBufferPointer({ SamplingWeights($0, temperature: temperature) }) else { continue }
                for countTokens in [false, true] {
                    swift.reserve(logits.count)
                    let expected = logits.withUnsafeBufferPointer { swift.weigh($0, sw, countTokens: countTokens, level: .avx2) }
                    for level in levels {
                        c.reserve(logits.count)
                        for b in 0..<(4 * tables) { c.masses[b] = 99; c.counts[b] = 99 }
                        let total = logits.withUnsafeBufferPointer {
                            SamplingKernel.weigh($0, maximum: sw.maximum, inverseTemperature: sw.inverseTemperature, scale: sw.scale,
                                                 weights: c.weights, buckets: c.buckets, masses: c.masses,
                                                 counts: countTokens ? c.counts : nil, bucketCount: tables, level: level)
                        }
                        let what = "\(name), T \(temperature), counting \(countTokens), C at \(level)"
                        XCTAssertEqual(total, expected, what)
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: c.weights, count: logits.count)),
                                       Array(UnsafeBufferPointer(start: swift.weights, count: logits.count)), what)
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: c.buckets, count: logits.count)),
                                       Array(UnsafeBufferPointer(start: swift.buckets, count: logits.count)), what)
                        XCTAssertEqual(Array(UnsafeBufferPointer(start: c.masses, count: tables)),
                                       Array(UnsafeBufferPointer(start: swift.masses, count: tables)), what)
                        if countTokens {
                            XCTAssertEqual(Array(UnsafeBufferPointer(start: c.counts, count: tables)),
                                           Array(UnsafeBufferPointer(start: swift.counts, count: tables)), what)
                        }
                        // The boundary bucket's tokens as C gathers them at this level, against a plain filter.
                        let n = logits.count
                        for target in Set([0, n / 3, n / 2, n - 1].map { Int(c.buckets[$0]) } + [0]) {
                            let idBits = Int.bitWidth - logits.count.leadingZeroBitCount
                            let plain = (0..<logits.count).filter { Int(c.buckets[$0]) == target }
                                .map { ~c.weights[$0] << UInt64(idBits) | UInt64($0) }
                            let m = SamplingKernel.members(of: target, buckets: c.buckets, weights: c.weights, count: logits.count,
                                                           idBits: idBits, into: c.members, level: level)
                            XCTAssertEqual(Array(UnsafeBufferPointer(start: c.members, count: m)), plain, "\(what), bucket \(target)")
                        }
                        c.size = logits.count
                        let options = countTokens ? SamplingOptions(temperature: temperature, topK: 50, topP: 0.95)
                                                  : SamplingOptions(temperature: temperature, topP: 0.9)
                        let rule = SamplingOptions.KeepRule(options, count: logits.count, total: total)
                        let (a, b) = (swift.boundary(rule, level: .avx2), c.boundary(rule, level: level))
                        XCTAssertEqual([a.weight, UInt64(a.id), a.kept], [b.weight, UInt64(b.id), b.kept], what)
                    }
                }
            }
        }
    }

    /// NaN logits weigh nothing (and are never drawn); +∞ or no finite logit at all makes the
    /// choice greedy, as does a temperature whose inverse is not finite.
    func testNaNAndInfinitiesAreNamedCases() {
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        func both(_ logits: [Float], _ options: SamplingOptions = SamplingOptions(temperature: 0.8, topP: 0.9), seed: UInt64) -> Int {
            var fast = SplitMix64(seed: seed), plain = SplitMix64(seed: seed)
            let a = logits.withUnsafeBufferPointer { options.choose($0, rng: &fast, workspace: &workspace) }
            XCTAssertEqual(a, options.chooseReference(logits[...], rng: &plain), "\(logits.prefix(5)) seed \(seed)")
            return a
        }
        var logits = (0..<100).map { Float($0 % 10) * 0.1 }
        logits[42] = .nan
        logits[9] = .nan
        for seed in UInt64(0)..<200 { XCTAssertFalse([42, 9].contains(both(logits, seed: seed))) }
        var infinite = [Float](repeating: 1, count: 40)
        infinite[7] = .infinity
        infinite[30] = .infinity
        XCTAssertEqual(both(infinite, seed: 1), 7, "+∞: the first maximum")
        XCTAssertEqual(both([Float](repeating: .nan, count: 9), seed: 1), 0, "no finite logit: greedy")
        XCTAssertEqual(both([-.infinity, 2, -.infinity], seed: 3), 1)
        XCTAssertEqual(both([1, 3, 2], SamplingOptions(temperature: 1e-300), seed: 3), 1, "1/T overflows: greedy")
    }

    /// The draws follow the distribution they claim: over 200,000 seeded draws each token's
    /// frequency is within 5 standard errors of exp(l/T) renormalised over the top-p set, computed
    /// here independently in double (top-p set by sorting the double probabilities).
    func testDrawsFollowTheRenormalisedSoftmax() {
        var rng = SplitMix64(seed: 5)
        let logits = (0..<60).map { _ in Float(rng.nextUniform() * 6 - 3) }
        for options in [SamplingOptions(temperature: 0.8, topP: 0.9), SamplingOptions(temperature: 1.3), SamplingOptions(temperature: 1, topK: 7)] {
            let m = Double(logits.max()!)
            let e = logits.map { exp((Double($0) - m) / options.temperature) }
            let total = e.reduce(0, +)
            let order = e.indices.sorted { e[$0] > e[$1] }
            var kept: [Int] = [], mass = 0.0
            for id in order {
                if options.topK > 0 && kept.count == options.topK { break }
                kept.append(id)
                mass += e[id] / total
                if mass >= options.topP { break }
            }
            let keptTotal = kept.reduce(0.0) { $0 + e[$1] }
            var counts = [Int](repeating: 0, count: logits.count)
            var workspace = SamplingWorkspace()
            defer { workspace.release() }
            var draws = SplitMix64(seed: 9)
            let n = 200_000
            for _ in 0..<n { counts[logits.withUnsafeBufferPointer { options.choose($0, rng: &draws, workspace: &workspace) }] += 1 }
            for id in logits.indices {
                let p = kept.contains(id) ? e[id] / keptTotal : 0
                let se = (p * (1 - p) / Double(n)).squareRoot()
                XCTAssertEqual(Double(counts[id]) / Double(n), p, accuracy: 5 * se + 1e-9, "token \(id), \(options)")
            }
        }
    }

    /// Batched, forced generation (as a sweep's generate task runs it, samples split across
    /// threads) gives, per seed, the tokens that stepping one sequence with the specification's
    /// sampler gives.
    func testBatchedGenerationMatchesTheSpecificationSampler() throws {
        for name in ["bloom-tiny", "xglm-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let model = loaded.model
            let force = Interventions([.mlpPost(0): [(5, 1.5), (9, -0.5)]])
            let sampling = SamplingOptions(temperature: 0.8, topP: 0.9)
            let seeds: [UInt64] = [0, 1, 2, 3, 4, 5, 6]
            // A one-token prompt and a longer one (the prompt's forward runs once, its cache copied).
            for prompt in [[2], [2, 40, 7, 13]] {
                let batched = try Generator(model: model).generate(prompt: prompt, maxNewTokens: 10, sampling: sampling, seeds: seeds,
                                                                   interventions: force)
                for (s, seed) in seeds.enumerated() {
                    var rng = SplitMix64(seed: seed)
                    let cache = model.makeCache()
                    var pending = prompt, tokens: [Int] = []
                    for _ in 0..<10 {
                        let logits = try model.forward([pending], caches: [cache], request: ForwardRequest(interventions: force, logits: .lastPosition)).logits
                        let next = sampling.chooseReference(logits[...], rng: &rng)
                        tokens.append(next)
                        pending = [next]
                    }
                    XCTAssertEqual(batched[s], tokens, "\(name) seed \(seed), prompt \(prompt)")
                }
            }
        }
    }
}
