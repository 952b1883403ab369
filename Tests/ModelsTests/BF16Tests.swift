import CKernelSupport
import Checkpoints
import Foundation
import Kernels
import XCTest
@testable import Models

/// The bf16 path (weights as stored, bf16 × bf16 → fp32 products, fp32 elsewhere) against
/// transformers run in bf16 (`tools/make_bf16_reference.py`) and in fp32 (the parity fixtures).
///
/// transformers' bf16 forward rounds every activation (residual stream included) to bf16, 8
/// significant bits; ours rounds only the inputs of the dense products. So the yardstick is
/// transformers' own bf16 error e (max-abs over max |fp32|, 0.2–3.8% here): relative to the fp32
/// reference ours must be within 1.25 e (it measures ≈ e/3; ≈ 0.7 e for OLMo-2, whose
/// projections read the raw residual stream, so its rounding of their inputs is most of the
/// error), taken as the worst over a sequence's hidden states, since one state's e alone
/// fluctuates; and the two bf16 runs must agree at every state within 1.5 e + one bf16 ulp (2⁻⁸).
final class BF16Tests: XCTestCase {
    func check(_ name: String) throws {
        let loaded = try LoadedModel.load(Fixtures.path(name), dtype: .bf16)
        XCTAssertEqual(loaded.precision, .bf16)
        let (meta, fp32) = try Fixtures.reference(name)
        let bf16 = try Safetensors.read(path: Fixtures.path(name) + "/reference-bf16.safetensors")
        let sites = (0...loaded.config.nLayers).map { HookSite.hidden($0) }
        for (n, ids) in meta.ids.enumerated() {
            let out = try loaded.model.forward([ids], request: ForwardRequest(sites: Set(sites), logits: .lastPosition))
            var ourWorst: Float = 0, theirWorst: Float = 0
            for site in sites {
                let ours = out.activations[site] ?? []
                let theirs = try XCTUnwrap(bf16["seq\(n).\(site)"]).floats()
                let exact = try XCTUnwrap(fp32["seq\(n).\(site)"]).floats()
                let ourError = relativeError(ours, exact), theirError = relativeError(theirs, exact)
                ourWorst = max(ourWorst, ourError)
                theirWorst = max(theirWorst, theirError)
                XCTAssertLessThanOrEqual(relativeError(ours, theirs), 1.5 * theirError + 0x1p-8,
                                         "\(name) seq\(n) \(site) vs transformers bf16")
            }
            XCTAssertLessThanOrEqual(ourWorst, 1.25 * theirWorst + 1e-6,
                                     "\(name) seq\(n): worst bf16 error vs fp32 \(ourWorst), transformers bf16 \(theirWorst)")
            let logitError = relativeError(out.logits, try XCTUnwrap(fp32["seq\(n).logits_last"]).floats())
            let theirLogitError = relativeError(try XCTUnwrap(bf16["seq\(n).logits_last"]).floats(),
                                                try XCTUnwrap(fp32["seq\(n).logits_last"]).floats())
            XCTAssertLessThanOrEqual(logitError, 1.25 * theirLogitError + 1e-6, "\(name) seq\(n) logits")
        }
    }

    func testBloomAgreesWithTransformersBF16() throws { try check("bloom-tiny-bf16") }
    func testXGLMAgreesWithTransformersBF16() throws { try check("xglm-tiny") }
    func testLlamaAgreesWithTransformersBF16() throws { try check("llama-tiny-bf16") }
    func testLlamaGQA4AgreesWithTransformersBF16() throws { try check("llama-tiny-gqa4") }
    func testGPTNeoXAgreesWithTransformersBF16() throws { try check("gpt-neox-tiny") }
    func testGPTNeoXSequentialAgreesWithTransformersBF16() throws { try check("gpt-neox-tiny-sequential") }
    func testOLMo2AgreesWithTransformersBF16() throws { try check("olmo2-tiny") }
    /// fp16 storage: kept fp16 in memory, rounded to bf16 inside the products — as transformers'
    /// `dtype=torch.bfloat16` rounds the fp16 weights.
    func testFP16CheckpointAgreesWithTransformersBF16() throws { try check("bloom-tiny-fp16") }

    /// bf16 and fp16 checkpoints: the embedding (whose rows are looked up) is used in place, the
    /// pointer in the mapping; a product matrix is packed once into the bf16 kernel's panels, each
    /// value the file's (fp16 rounded to bf16), and on AMX hosts used in place too.
    func testHalfWeightsAreMappedOrPackedFromTheFile() throws {
        for (name, format) in [("bloom-tiny-bf16", HalfMatrix.Format.bf16), ("bloom-tiny-fp16", .fp16)] {
            let loaded = try LoadedModel.load(Fixtures.path(name), dtype: .bf16)
            let bloom = try XCTUnwrap(loaded.model as? Bloom)
            let embedding = try loaded.weights.record(["word_embeddings.weight", "transformer.word_embeddings.weight"])
            guard case .half(let e) = bloom.embedding else { return XCTFail("\(name): the embedding is not 16-bit") }
            XCTAssertEqual(UnsafeRawPointer(e.base), embedding.file.bytes + embedding.byteOffset, name)
            XCTAssertEqual(e.format, format, name)
            let record = try loaded.weights.record(["h.0.mlp.dense_h_to_4h.weight", "transformer.h.0.mlp.dense_h_to_4h.weight"])
            let stored = (record.file.bytes + record.byteOffset).assumingMemoryBound(to: UInt16.self)
            switch bloom.blocks[0].up.weight {
            case .packedHalf(let p):
                XCTAssertTrue(PackedHalfMatrix.isUsable, name)
                for r in 0..<p.rows {
                    for c in 0..<p.cols {
                        let bits = stored[r * p.cols + c]
                        let expected = format == .bf16 ? Float(bitPattern: UInt32(bits) << 16)
                                                       : Float(bitPattern: UInt32(Float(Float16(bitPattern: bits)).bf16Rounded) << 16)
                        XCTAssertEqual(p[r, c].bitPattern, expected.bitPattern, "\(name) (\(r), \(c))")
                    }
                }
            case .half(let m):
                XCTAssertFalse(PackedHalfMatrix.isUsable, name)
                XCTAssertEqual(UnsafeRawPointer(m.base), record.file.bytes + record.byteOffset, name)
            case .packed: XCTFail("\(name): up projection is not 16-bit")
            }
        }
    }

    /// Batched rows equal the rows run alone, bit for bit (each element's sum order is fixed).
    func testBatchEqualsRowsAlone() throws {
        let loaded = try LoadedModel.load(Fixtures.path("bloom-tiny"), dtype: .bf16)
        let (meta, _) = try Fixtures.reference("bloom-tiny")
        let site = HookSite.hidden(loaded.config.nLayers)
        let together = try loaded.model.forward(meta.ids, request: ForwardRequest(sites: [site]))
        let width = site.width(loaded.config)
        for (s, ids) in meta.ids.enumerated() {
            let alone = try loaded.model.forward([ids], request: ForwardRequest(sites: [site]))
            XCTAssertEqual(together.rows(site, sequence: s, width: width).flatMap { $0 }, alone.activations[site], "row \(s)")
        }
    }

    /// `auto` keeps fp32 when the widened weights fit in 80% of available memory, else bf16.
    func testAutoChoice() {
        XCTAssertEqual(LoadedModel.choosePrecision(.auto, fp32Bytes: 1 << 30, available: 8 << 30).0, .fp32)
        let (big, note) = LoadedModel.choosePrecision(.auto, fp32Bytes: 28_000_000_000, available: 24_000_000_000)
        XCTAssertEqual(big, .bf16)
        XCTAssertTrue(note.contains("28.0 GB") && note.contains("24.0 GB"), note)
        XCTAssertEqual(LoadedModel.choosePrecision(.fp32, fp32Bytes: 28_000_000_000, available: 1).0, .fp32)
        XCTAssertEqual(LoadedModel.choosePrecision(.bf16, fp32Bytes: 1, available: 1 << 40).0, .bf16)
    }
}

private extension Float {
    /// Round to nearest even bf16 bits (the values here are finite).
    var bf16Rounded: UInt16 {
        var out: UInt16 = 0
        var x = self
        xl_round_to_bf16(KernelPath.detected.rawValue, &x, &out, 1)
        return out
    }
}
