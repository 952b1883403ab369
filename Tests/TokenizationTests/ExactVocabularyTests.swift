import Foundation
import XCTest
@testable import Tokenization

/// Vocabulary entries that Swift `String` equality would merge: "é" (U+00E9) and "e" + U+0301 are
/// canonically equivalent but distinct tokens, and a token may start with U+FEFF. The tokenizer is
/// written and the reference ids computed by Hugging Face `tokenizers`.
final class ExactVocabularyTests: XCTestCase {
    func testCanonicallyEquivalentTokensAndByteOrderMarksStayDistinct() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exact-vocab-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let texts = ["\u{E9}", "e\u{301}", "\u{E9}e\u{301}\u{E9}", "\u{FEFF}\u{FEFF}a", "a\u{FEFF}\u{FEFF}\u{FEFF}e\u{301}"]
        let script = """
            import json, sys
            from tokenizers import Tokenizer, models
            vocab = {"<unk>": 0, "a": 1, "e": 2, "\\u0301": 3, "\\u00e9": 4, "e\\u0301": 5, "\\ufeff": 6, "\\ufeff\\ufeff": 7}
            merges = [("e", "\\u0301"), ("\\ufeff", "\\ufeff")]
            tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
            tok.save(sys.argv[1] + "/tokenizer.json")
            for t in json.loads(sys.argv[2]):
                print(json.dumps(tok.encode(t).ids))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir, String(decoding: try JSONEncoder().encode(texts), as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python tokenizers failed (tools/requirements-test.txt)")
        let expected = try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode([Int].self, from: Data($0.utf8))
        }
        let tokenizer = try Tokenizer(path: dir + "/tokenizer.json")
        XCTAssertEqual(tokenizer.vocabularySize, 8)
        XCTAssertEqual(texts.map { tokenizer.encode($0) }, expected)
        XCTAssertEqual(expected[0], [4])   // the precomposed token, not its equivalent
        XCTAssertEqual(expected[1], [5])
    }
}
