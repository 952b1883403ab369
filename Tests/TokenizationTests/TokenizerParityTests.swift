import Foundation
import XCTest
@testable import Tokenization

/// Token ids equal those of the Hugging Face `tokenizers` library on > 1,000 lines of real
/// multilingual text plus edge cases (tools/tokenizer_reference.py computes the reference).
final class TokenizerParityTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    struct Reference: Decodable {
        let text: String
        let ids: [Int]
        let ids_plain: [Int]
        let decoded: String
    }

    /// Runs the Python reference; fails the test (never skips) when it cannot run.
    func reference(for tokenizer: String) throws -> [Reference] {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).jsonl").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.root + "/tools/tokenizer_reference.py", tokenizer, out]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: out) else {
            throw CocoaError(.fileReadUnknown)
        }
        defer { try? FileManager.default.removeItem(atPath: out) }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(Reference.self, from: Data($0.utf8))
        }
    }

    func check(_ model: String, path: String? = nil) throws {
        let path = path ?? Self.root + "/Tests/Fixtures/\(model)/tokenizer.json"
        let tokenizer = try Tokenizer(path: path)
        let refs: [Reference]
        do { refs = try reference(for: path) } catch {
            XCTFail("tools/tokenizer_reference.py failed: install tools/requirements.txt (the README's test command does)")
            return
        }
        XCTAssertGreaterThan(refs.count, 1000)
        var failures = 0
        for r in refs {
            let ids = tokenizer.encode(r.text)
            let plain = tokenizer.encode(r.text, addSpecialTokens: false)
            if ids != r.ids || plain != r.ids_plain {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(model): \(r.text.debugDescription)\n swift: \(ids)\n  ref:  \(r.ids)")
                }
            }
            let decoded = tokenizer.decode(plain)
            if decoded != r.decoded {
                failures += 1
                if failures <= 5 { XCTFail("\(model) decode: \(decoded.debugDescription) vs \(r.decoded.debugDescription)") }
            }
        }
        XCTAssertEqual(failures, 0, "\(model): \(failures) of \(refs.count) lines differ")
    }

    func testBloomByteLevelBPE() throws { try check("bloom-tiny") }
    func testXGLMUnigram() throws { try check("xglm-tiny") }
    /// Llama 2's kind: SentencePiece BPE with byte fallback, Prepend/Replace normalizer, `<s> $A`.
    func testLlamaByteFallbackBPE() throws { try check("llama-tiny") }
    /// Llama 3's and OLMo-2's kind: byte-level BPE after the cl100k split regex (`(?i:'s|…)`, `\s+(?!\S)`).
    func testLlama3ByteLevelBPE() throws { try check("llama-tiny-gqa4") }
    func testOLMo2ByteLevelBPE() throws { try check("olmo2-tiny") }
    /// GPT-NeoX's kind: byte-level BPE with GPT-2's regex inside ByteLevel.
    func testGPTNeoXByteLevelBPE() throws { try check("gpt-neox-tiny") }

    /// Gemma 3's real tokenizer (262,144 BPE tokens with byte fallback, 6,384 added tokens, tokens
    /// that differ only in Unicode normalisation or a leading U+FEFF), from tools/fetch_gemma.py.
    func testGemma3ByteFallbackBPE() throws {
        let path = Self.root + "/models/gemma3-270m/tokenizer.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Gemma 3 270M is not converted: run `python3 tools/fetch_gemma.py` (tools/test.sh does)")
        }
        try check("gemma3-270m", path: path)
    }
}
