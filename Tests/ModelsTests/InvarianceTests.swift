import Checkpoints
import Foundation
import Kernels
import XCTest
@testable import Models

/// Properties that hold whatever the reference says: file format does not matter, the KV cache
/// does not matter, forcing a unit to its own value changes nothing, stopping early changes nothing.
final class InvarianceTests: XCTestCase {
    func testFileFormatsGiveIdenticalOutputsAndFingerprints() throws {
        let (meta, _) = try Fixtures.reference("bloom-tiny")
        let base = try LoadedModel.load(Fixtures.path("bloom-tiny"))
        let request = ForwardRequest(sites: [.hidden(3), .mlpPost(1)], logits: .lastPosition)
        let expected = try base.model.forward(meta.ids, request: request)
        for layout in ["bloom-tiny-bin", "bloom-tiny-sharded", "bloom-tiny-bin-sharded"] {
            let other = try LoadedModel.load(Fixtures.path(layout))
            XCTAssertEqual(other.fingerprint, base.fingerprint, layout)
            let out = try other.model.forward(meta.ids, request: request)
            XCTAssertEqual(out.activations[.hidden(3)], expected.activations[.hidden(3)], layout)
            XCTAssertEqual(out.activations[.mlpPost(1)], expected.activations[.mlpPost(1)], layout)
            XCTAssertEqual(out.logits, expected.logits, layout)
        }
        let fp16 = try LoadedModel.load(Fixtures.path("bloom-tiny-fp16"))
        XCTAssertEqual(try LoadedModel.load(Fixtures.path("bloom-tiny-fp16-bin")).fingerprint, fp16.fingerprint)
        XCTAssertNotEqual(fp16.fingerprint, base.fingerprint)
        XCTAssertNotEqual(try LoadedModel.load(Fixtures.path("bloom-tiny-bf16")).fingerprint, fp16.fingerprint)
        XCTAssertTrue(base.fingerprint.hasPrefix("sha256:"))
    }

    func testCachedAndUncachedGenerationAgree() throws {
        for name in ["bloom-tiny", "xglm-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let generator = Generator(model: loaded.model)
            let force = Interventions([.mlpPost(0): [(5, 1.5), (9, -0.5)], .attnOut(1): [(2, 0.25)]])
            let sampling = SamplingOptions(temperature: 0.8, topK: 50, topP: 0.9)
            for seed in UInt64(0)..<3 {
                for interventions in [Interventions(), force] {
                    let cached = try generator.generate(prompt: [2, 40, 41], maxNewTokens: 12, sampling: sampling, seed: seed,
                                                        interventions: interventions, useCache: true)
                    let full = try generator.generate(prompt: [2, 40, 41], maxNewTokens: 12, sampling: sampling, seed: seed,
                                                      interventions: interventions, useCache: false)
                    XCTAssertEqual(cached, full, "\(name) seed \(seed)")
                    XCTAssertEqual(cached.count, 12)
                }
            }
            // Same seed, same stream; another seed, (almost surely) another text.
            let a = try generator.generate(prompt: [2], maxNewTokens: 15, sampling: sampling, seed: 7)
            XCTAssertEqual(a, try generator.generate(prompt: [2], maxNewTokens: 15, sampling: sampling, seed: 7))
            XCTAssertNotEqual(a, try generator.generate(prompt: [2], maxNewTokens: 15, sampling: sampling, seed: 8))
        }
    }

    /// Samples for many seeds advanced together equal each seed's sample drawn alone: guaranteed in
    /// bf16 (its products do not depend on the batch), and so here in fp32 too (OpenBLAS may round a
    /// batched row differently in the last bit, which could flip a draw near a threshold);
    /// sequences stop at the stop token one by one.
    func testBatchedSamplesEqualSamplesDrawnAlone() throws {
        for (name, dtype) in [("bloom-tiny", DTypeChoice.bf16), ("xglm-tiny", .bf16), ("bloom-tiny", .fp32)] {
            let loaded = try LoadedModel.load(Fixtures.path(name), dtype: dtype)
            let generator = Generator(model: loaded.model)
            let force = Interventions([.mlpPost(0): [(5, 1.5), (9, -0.5)]])
            let sampling = SamplingOptions(temperature: 0.8, topK: 50, topP: 0.9)
            let seeds = (UInt64(0)..<6).map { $0 * 7 + 1 }
            let stop = 3
            let batched = try generator.generate(prompt: [2, 40], maxNewTokens: 14, sampling: sampling, seeds: seeds,
                                                 interventions: force, stopToken: stop)
            let alone = try seeds.map {
                try generator.generate(prompt: [2, 40], maxNewTokens: 14, sampling: sampling, seed: $0, interventions: force,
                                       stopToken: stop)
            }
            XCTAssertEqual(batched, alone, "\(name) \(dtype)")
            XCTAssertGreaterThan(Set(batched).count, 1, "different seeds, different samples")
        }
    }

    func testForcingUnitsToTheirOwnValuesChangesNothing() throws {
        let loaded = try LoadedModel.load(Fixtures.path("bloom-tiny"))
        let ids = [[44, 81, 364, 589, 74]]
        let plain = try loaded.model.forward(ids, request: ForwardRequest(sites: [.mlpPost(1), .hidden(3)], logits: .allPositions))
        let own = plain.activations[.mlpPost(1)]!
        // A constant the unit takes at every position: force unit u of a one-token prompt.
        let single = try loaded.model.forward([[44]], request: ForwardRequest(sites: [.mlpPost(1)]))
        let value = single.activations[.mlpPost(1)]![7]
        let forced = try loaded.model.forward([[44]], request: ForwardRequest(
            sites: [.hidden(3)], interventions: Interventions([.mlpPost(1): [(7, value)]]), logits: .allPositions))
        let unforced = try loaded.model.forward([[44]], request: ForwardRequest(sites: [.hidden(3)], logits: .allPositions))
        XCTAssertEqual(forced.activations[.hidden(3)], unforced.activations[.hidden(3)])
        XCTAssertEqual(forced.logits, unforced.logits)
        // And forcing a different value does change the output.
        let moved = try loaded.model.forward(ids, request: ForwardRequest(
            sites: [.hidden(3)], interventions: Interventions([.mlpPost(1): [(7, own[7] + 3)]]), logits: .allPositions))
        XCTAssertNotEqual(moved.logits, plain.logits)
    }

    func testStoppingAtTheLastNeededLayerGivesTheSameActivations() throws {
        let loaded = try LoadedModel.load(Fixtures.path("xglm-tiny"))
        let ids = [[2, 152, 8, 26, 155], [2, 108, 14]]
        let full = try loaded.model.forward(ids, request: ForwardRequest(sites: [.hidden(1), .mlpPost(0), .hidden(2)], logits: .lastPosition))
        let early = try loaded.model.forward(ids, request: ForwardRequest(sites: [.hidden(1), .mlpPost(0)]))
        XCTAssertEqual(early.activations[.hidden(1)], full.activations[.hidden(1)])
        XCTAssertEqual(early.activations[.mlpPost(0)], full.activations[.mlpPost(0)])
        XCTAssertNil(early.activations[.hidden(2)])
        XCTAssertTrue(early.logits.isEmpty)
    }

    /// Logits written into a caller's buffer (decoding's one buffer for every step) are the bits
    /// of the array a forward returns otherwise; a buffer too small for them is not used.
    func testLogitsIntoACallersBufferAreTheReturnedLogits() throws {
        for name in ["bloom-tiny", "llama-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let ids = [[2, 152, 8, 26, 155], [2, 108, 14]], vocab = loaded.config.vocabSize
            for (selection, rows) in [(LogitsSelection.lastPosition, 2), (.allPositions, 8)] {
                let returned = try loaded.model.forward(ids, request: ForwardRequest(logits: selection)).logits
                XCTAssertEqual(returned.count, rows * vocab, name)
                let buffer = FloatBuffer(count: rows * vocab + 7, uninitialized: true)
                let written = try loaded.model.forward(ids, request: ForwardRequest(logits: selection, logitsOutput: buffer))
                XCTAssertTrue(written.logits.isEmpty, name)
                let values = Array(UnsafeBufferPointer(start: buffer.pointer, count: rows * vocab))
                XCTAssertEqual(values.map(\.bitPattern), returned.map(\.bitPattern), "\(name) \(selection)")
                let small = FloatBuffer(count: rows * vocab - 1)
                let fallback = try loaded.model.forward(ids, request: ForwardRequest(logits: selection, logitsOutput: small))
                XCTAssertEqual(fallback.logits.map(\.bitPattern), returned.map(\.bitPattern), "\(name) \(selection) (small buffer)")
            }
        }
    }

    /// Within the parity tolerance: BLAS sums in a different order when the number of rows of a
    /// product changes, so a batch is not bit-identical to its rows run alone (a sweep fixes its
    /// batches in the plan, which keeps its outputs bit-identical).
    func testBatchRowsEqualSequencesRunAlone() throws {
        for name in ["bloom-tiny", "xglm-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let (meta, _) = try Fixtures.reference(name)
            let sites: Set<HookSite> = [.hidden(loaded.config.nLayers), .mlpPost(1)]
            let batch = try loaded.model.forward(meta.ids, request: ForwardRequest(sites: sites))
            for (s, ids) in meta.ids.enumerated() {
                let alone = try loaded.model.forward([ids], request: ForwardRequest(sites: sites))
                for site in sites {
                    let w = site.width(loaded.config)
                    assertClose(batch.rows(site, sequence: s, width: w).flatMap { $0 }, alone.activations[site]!,
                                tolerance: 1e-4, "\(name) row \(s) \(site)")
                }
            }
        }
    }
}

final class HookSiteTests: XCTestCase {
    func testNamesRoundTripAndPatternsExpand() throws {
        let config = try ModelConfig(path: Fixtures.path("bloom-tiny") + "/config.json")
        let all = try HookSite.expand("hidden.*,blocks.*.resid_pre,blocks.*.attn_out,blocks.*.mlp_post,blocks.*.mlp_out,blocks.*.resid_post",
                                      config: config)
        XCTAssertEqual(all.count, 4 + 3 * 5)
        for site in all { XCTAssertEqual(HookSite(site.description), site) }
        XCTAssertEqual(all.sorted().prefix(7).map(\.description),
                       ["hidden.0", "blocks.0.resid_pre", "blocks.0.attn_out", "blocks.0.mlp_post", "blocks.0.mlp_out",
                        "blocks.0.resid_post", "hidden.1"])
        XCTAssertEqual(try HookSite.expand("blocks.2.mlp_post, hidden.3", config: config), [.mlpPost(2), .hidden(3)])
        XCTAssertThrowsError(try HookSite.expand("hidden.4", config: config))
        XCTAssertThrowsError(try HookSite.expand("blocks.3.mlp_post", config: config))
        XCTAssertThrowsError(try HookSite.expand("blocks.0.mlp_pre", config: config))
        XCTAssertEqual(HookSite.mlpPost(0).width(config), 4 * 48)
    }
}

final class ConfigErrorTests: XCTestCase {
    func copyFixture(editing edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let src = Fixtures.path("bloom-tiny")
        try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors", withDestinationPath: src + "/model.safetensors")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return dir
    }

    func expectError(_ dir: String, _ check: (CheckpointError) -> Bool) {
        do {
            _ = try LoadedModel.load(dir, tokenizer: false)
            XCTFail("no error")
        } catch let e as CheckpointError {
            XCTAssertTrue(check(e), "\(e)")
        } catch { XCTFail("\(error)") }
    }

    func testUnknownModelTypeMissingTensorAndShapeMismatch() throws {
        expectError(try copyFixture { $0["model_type"] = "mamba" }) {
            if case .unknownModelType(_, "mamba") = $0 { return true }; return false
        }
        expectError(try copyFixture { $0["n_layer"] = 4 }) {
            if case .missingTensor(_, let t) = $0 { return t == "transformer.h.3.input_layernorm.weight" }; return false
        }
        expectError(try copyFixture { $0["vocab_size"] = 1499 }) {
            if case .shapeMismatch(_, "transformer.word_embeddings.weight", [1499, 48], [1500, 48]) = $0 { return true }
            return false
        }
        expectError(try copyFixture { $0["n_head"] = 5 }) {
            if case .badConfig(_, "n_head", _) = $0 { return true }; return false
        }
    }
}

/// The logit lens reads a hidden state through the model's own final norm and head: at the last
/// layer (already normed, as transformers returns it) it is the model's own output, bit for bit;
/// at any layer it is the forward's logits had the stack stopped there (the final norm, then the head).
final class LogitLensTests: XCTestCase {
    func testLensAtTheLastLayerIsTheModelsOwnOutput() throws {
        for name in ["bloom-tiny", "xglm-tiny", "llama-tiny", "gpt-neox-tiny", "olmo2-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let config = loaded.config, n = config.nLayers, d = config.dModel, vocab = config.vocabSize
            let ids = [[2, 40, 41, 57, 9], [3, 11, 12]]
            let out = try loaded.model.forward(ids, request: ForwardRequest(sites: [.hidden(n), .hidden(n - 1)], logits: .allPositions))
            let rows = out.lengths.reduce(0, +)
            var lens = [Float](repeating: .nan, count: rows * vocab)
            out.activations[.hidden(n)]!.withUnsafeBufferPointer { h in
                lens.withUnsafeMutableBufferPointer { loaded.model.lens(h.baseAddress!, rows: rows, normed: true, into: $0.baseAddress!) }
            }
            XCTAssertEqual(lens, out.logits, "\(name): the lens at hidden.\(n) is not the model's output")
            // One row at a time gives the same bits as all rows at once.
            var single = [Float](repeating: .nan, count: vocab)
            out.activations[.hidden(n)]!.withUnsafeBufferPointer { h in
                single.withUnsafeMutableBufferPointer { loaded.model.lens(h.baseAddress! + 3 * d, rows: 1, normed: true, into: $0.baseAddress!) }
            }
            XCTAssertEqual(single, Array(out.logits[(3 * vocab)..<(4 * vocab)]), name)
            // An earlier layer goes through the final norm first: not the head of the raw state.
            var normed = [Float](repeating: 0, count: rows * vocab), raw = normed
            out.activations[.hidden(n - 1)]!.withUnsafeBufferPointer { h in
                normed.withUnsafeMutableBufferPointer { loaded.model.lens(h.baseAddress!, rows: rows, normed: false, into: $0.baseAddress!) }
                raw.withUnsafeMutableBufferPointer { loaded.model.lens(h.baseAddress!, rows: rows, normed: true, into: $0.baseAddress!) }
            }
            XCTAssertNotEqual(normed, raw, name)
            XCTAssertTrue(normed.allSatisfy(\.isFinite), name)
        }
    }
}
