import Foundation
import Kernels
import XCTest
@testable import Models

/// The sampler's fast path (radix order of the logits, checked and mended against the
/// probabilities) chooses exactly what the plain specification — a comparison sort of every token
/// by (probability descending, id ascending) — chooses: same seeds, same continuations as before.
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
                    XCTAssertEqual(fast.state, plain.state, "one draw per token")
                }
            }
        }
    }

    /// A NaN among the logits cannot be ordered by the radix path: the specification's sort decides.
    func testNaNFallsBackToTheComparisonSort() {
        var logits = (0..<100).map { Float($0 % 10) * 0.1 }
        logits[42] = .nan
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        let sampling = SamplingOptions(temperature: 0.8, topP: 0.9)
        var fast = SplitMix64(seed: 1), plain = SplitMix64(seed: 1)
        let a = logits.withUnsafeBufferPointer { sampling.choose($0, rng: &fast, workspace: &workspace) }
        XCTAssertEqual(a, sampling.chooseReference(logits[...], rng: &plain))
        XCTAssertEqual(workspace.fallbacks, 1)
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
            let batched = try Generator(model: model).generate(prompt: [2], maxNewTokens: 10, sampling: sampling, seeds: seeds,
                                                               interventions: force)
            for (s, seed) in seeds.enumerated() {
                var rng = SplitMix64(seed: seed)
                let cache = model.makeCache()
                var pending = [2], tokens: [Int] = []
                for _ in 0..<10 {
                    let logits = try model.forward([pending], caches: [cache], request: ForwardRequest(interventions: force, logits: .lastPosition)).logits
                    let next = sampling.chooseReference(logits[...], rng: &rng)
                    tokens.append(next)
                    pending = [next]
                }
                XCTAssertEqual(batched[s], tokens, "\(name) seed \(seed)")
            }
        }
    }
}
