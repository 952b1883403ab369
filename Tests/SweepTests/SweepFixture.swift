import Foundation
import XCTest
@testable import Sweep

/// A small sweep over the tiny fixture models: 3 same-shape checkpoints × 4 languages × 2 concepts,
/// with a synthetic data set written to a scratch directory.
enum SweepFixture {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let languages = ["en", "es", "fr", "de"]
    static let words: [String: [String]] = [
        "en": ["the", "river", "house", "joy", "earthquake", "morning", "people", "city", "ran", "happy"],
        "es": ["el", "río", "casa", "alegría", "terremoto", "mañana", "gente", "ciudad", "corrió", "feliz"],
        "fr": ["le", "fleuve", "maison", "joie", "séisme", "matin", "gens", "ville", "courut", "heureux"],
        "de": ["der", "Fluss", "Haus", "Freude", "Erdbeben", "Morgen", "Leute", "Stadt", "lief", "froh"],
    ]

    /// Writes the data set and a config; returns the config path.
    static func make(in dir: String, samples: Int = 3, extra: String = "") throws -> String {
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try #"{"languages": ["en", "es", "fr", "de"], "concepts": ["joy", "earthquake"]}"#
            .write(toFile: data + "/manifest.json", atomically: true, encoding: .utf8)
        try #"{"joy": {"en": ["joy"], "es": ["alegr"], "fr": ["joie"], "de": ["freude"]}, "earthquake": {"en": ["earthquake"], "es": ["terremot"], "fr": ["séisme"], "de": ["erdbeben"]}}"#
            .write(toFile: data + "/lexicon.json", atomically: true, encoding: .utf8)
        for lang in languages {
            let w = words[lang]!
            var lines: [String] = []
            for i in 0..<12 {
                let text = (0..<6).map { w[(i * 7 + $0 * 3) % w.count] }.joined(separator: " ")
                lines.append(#"{"text": "\#(text)", "split": "probe"}"#)
            }
            for i in 0..<24 {
                var concepts: [String] = []
                var t = (0..<5).map { w[(i * 5 + $0 * 7 + 1) % w.count] }
                if i % 3 == 0 { t.append(w[3]); concepts.append("joy") }
                if i % 4 == 1 { t.append(w[4]); concepts.append("earthquake") }
                let list = concepts.map { "\"\($0)\"" }.joined(separator: ", ")
                lines.append(#"{"text": "\#(t.joined(separator: " "))", "split": "concept", "concepts": [\#(list)]}"#)
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: data + "/\(lang).jsonl", atomically: true, encoding: .utf8)
        }
        let config = """
            name: tiny
            output: out
            workers: 2
            data: data
            languages: [en, es, fr, de]
            checkpoints:
              - {name: step1, path: \(fixtures)/bloom-tiny}
              - {name: step2, path: \(fixtures)/bloom-tiny-fp16}
              - {name: step3, path: \(fixtures)/bloom-tiny-bf16}
            probe: {tokens_per_language: 40, seeds: 2}
            expertise: {k: 20, min_positives: 3}
            alignment: {permutations: 3}
            generation: {samples: \(samples), new_tokens: 6}
            \(extra)
            """
        try config.write(toFile: dir + "/sweep.yaml", atomically: true, encoding: .utf8)
        return dir + "/sweep.yaml"
    }
}
