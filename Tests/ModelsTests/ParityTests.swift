import Checkpoints
import Foundation
import XCTest
@testable import Models

/// Every hook site and the logits against transformers (fp32, max-abs 1e-4), for single
/// sequences and a padded batch; greedy continuations token for token.
final class ParityTests: XCTestCase {
    static let tolerance: Float = 1e-4

    func allSites(_ config: ModelConfig) -> [HookSite] {
        (0...config.nLayers).map { HookSite.hidden($0) } + (0..<config.nLayers).flatMap { l in
            [HookSite.residPre(l), .attnOut(l), .mlpPost(l), .mlpOut(l), .residPost(l)]
        }
    }

    func checkSingleSequences(_ name: String) throws {
        let loaded = try LoadedModel.load(Fixtures.path(name))
        let (meta, ref) = try Fixtures.reference(name)
        let sites = allSites(loaded.config)
        for (n, prompt) in meta.prompts.enumerated() {
            XCTAssertEqual(loaded.tokenizer?.encode(prompt), meta.ids[n], "\(name) tokenization of prompt \(n)")
            let out = try loaded.model.forward([meta.ids[n]], request: ForwardRequest(sites: Set(sites), logits: .lastPosition))
            for site in sites {
                guard let expected = ref["seq\(n).\(site)"] else { return XCTFail("reference lacks seq\(n).\(site)") }
                assertClose(out.activations[site] ?? [], try expected.floats(), tolerance: Self.tolerance, "\(name) seq\(n) \(site)")
            }
            assertClose(out.logits, try ref["seq\(n).logits_last"]!.floats(), tolerance: Self.tolerance, "\(name) seq\(n) logits")
        }
    }

    func checkPaddedBatch(_ name: String) throws {
        let loaded = try LoadedModel.load(Fixtures.path(name))
        let (meta, ref) = try Fixtures.reference(name)
        let sites = allSites(loaded.config).filter {
            if case .hidden = $0 { return true }
            if case .mlpPost = $0 { return true }
            return false
        }
        let out = try loaded.model.forward(meta.ids, request: ForwardRequest(sites: Set(sites)))
        let width = meta.batch_lengths.max()!
        for site in sites {
            let w = site.width(loaded.config)
            let padded = try ref["batch.\(site)"]!.floats()   // [batch, width, w], right-padded
            for (s, n) in meta.batch_lengths.enumerated() {
                let expected = Array(padded[(s * width * w)..<((s * width + n) * w)])
                assertClose(out.rows(site, sequence: s, width: w).flatMap { $0 }, expected, tolerance: Self.tolerance,
                            "\(name) batch row \(s) \(site)")
            }
        }
    }

    func checkGreedy(_ name: String) throws {
        let loaded = try LoadedModel.load(Fixtures.path(name))
        let (meta, _) = try Fixtures.reference(name)
        let generator = Generator(model: loaded.model)
        let force = Interventions([.mlpPost(meta.force.layer): meta.force.units.map { ($0, meta.force.value) }])
        for (n, ids) in meta.ids.enumerated() {
            let greedy = try generator.generate(prompt: ids, maxNewTokens: meta.greedy_new_tokens,
                                                sampling: .greedyDecoding, seed: 0)
            XCTAssertEqual(greedy, meta.sequences[n].greedy, "\(name) greedy continuation of prompt \(n)")
            let forced = try generator.generate(prompt: ids, maxNewTokens: meta.greedy_new_tokens,
                                                sampling: .greedyDecoding, seed: 0, interventions: force)
            XCTAssertEqual(forced, meta.sequences[n].greedy_forced, "\(name) forced greedy continuation of prompt \(n)")
        }
    }

    func testBloomSites() throws { try checkSingleSequences("bloom-tiny") }
    func testXGLMSites() throws { try checkSingleSequences("xglm-tiny") }
    func testBloomPaddedBatch() throws { try checkPaddedBatch("bloom-tiny") }
    func testXGLMPaddedBatch() throws { try checkPaddedBatch("xglm-tiny") }
    func testBloomGreedy() throws { try checkGreedy("bloom-tiny") }
    func testXGLMGreedy() throws { try checkGreedy("xglm-tiny") }
    /// Llama (GQA 2, llama3 RoPE scaling, untied head, SentencePiece BPE with byte fallback) and
    /// Llama 3-style (GQA 4, head_dim 12 ≠ d/heads, attention biases, linear RoPE scaling, tied head).
    func testLlamaSites() throws { try checkSingleSequences("llama-tiny") }
    func testLlamaPaddedBatch() throws { try checkPaddedBatch("llama-tiny") }
    func testLlamaGreedy() throws { try checkGreedy("llama-tiny") }
    func testLlamaGQA4Sites() throws { try checkSingleSequences("llama-tiny-gqa4") }
    func testLlamaGQA4PaddedBatch() throws { try checkPaddedBatch("llama-tiny-gqa4") }
    func testLlamaGQA4Greedy() throws { try checkGreedy("llama-tiny-gqa4") }
    /// GPT-NeoX: 6 heads, rotary_pct 0.25, parallel residual; and 4 heads, rotary_pct 0.5, sequential.
    func testGPTNeoXSites() throws { try checkSingleSequences("gpt-neox-tiny") }
    func testGPTNeoXPaddedBatch() throws { try checkPaddedBatch("gpt-neox-tiny") }
    func testGPTNeoXGreedy() throws { try checkGreedy("gpt-neox-tiny") }
    func testGPTNeoXSequentialSites() throws { try checkSingleSequences("gpt-neox-tiny-sequential") }
    func testGPTNeoXSequentialGreedy() throws { try checkGreedy("gpt-neox-tiny-sequential") }
    /// OLMo-2: norms after attention and MLP, q/k RMSNorm over the whole projection, GQA ratio 1.
    func testOLMo2Sites() throws { try checkSingleSequences("olmo2-tiny") }
    func testOLMo2PaddedBatch() throws { try checkPaddedBatch("olmo2-tiny") }
    func testOLMo2Greedy() throws { try checkGreedy("olmo2-tiny") }
    func testLlamaBF16Sites() throws { try checkSingleSequences("llama-tiny-bf16") }

    /// Each architecture's weight table names exactly the tensors its model loads.
    func testWeightTablesMatchWhatModelsLoad() throws {
        for name in ["bloom-tiny", "xglm-tiny", "llama-tiny", "llama-tiny-gqa4", "gpt-neox-tiny", "gpt-neox-tiny-sequential", "olmo2-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name), tokenizer: false)
            XCTAssertEqual(try WeightTable.of(loaded.config).resolve(in: loaded.weights), loaded.model.canonicalNames, name)
        }
    }

    /// GPT-NeoX's head stored as `lm_head.weight` (transformers 5 renames `embed_out` on load) gives
    /// the same logits and the same fingerprint as `embed_out.weight`.
    func testGPTNeoXHeadUnderEitherName() throws {
        let src = Fixtures.path("gpt-neox-tiny")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neox-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: src + "/model.safetensors"))
        // Same header length: the shorter key is followed by spaces, which JSON allows.
        let old = Data("\"embed_out.weight\"".utf8), new = Data("\"lm_head.weight\"  ".utf8)
        let range = try XCTUnwrap(bytes.range(of: old))
        bytes.replaceSubrange(range, with: new)
        try bytes.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        let original = try LoadedModel.load(src, tokenizer: false), renamed = try LoadedModel.load(dir, tokenizer: false)
        XCTAssertEqual(renamed.model.canonicalNames["embed_out.weight"], "lm_head.weight")
        let ids = [[5, 17, 99, 3]]
        XCTAssertEqual(try renamed.model.forward(ids, request: ForwardRequest(logits: .lastPosition)).logits,
                       try original.model.forward(ids, request: ForwardRequest(logits: .lastPosition)).logits)
        XCTAssertEqual(renamed.fingerprint, original.fingerprint)
    }

    /// fp16/bf16 storage, widened to fp32, against transformers loading the same file as fp32.
    func testBloomFP16Sites() throws { try checkSingleSequences("bloom-tiny-fp16") }
    func testBloomBF16Sites() throws { try checkSingleSequences("bloom-tiny-bf16") }
}
