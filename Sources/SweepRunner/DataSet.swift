import Digests
import Foundation
import SweepCore

/// The sweep's sentences, as a data set directory holds them (the contract the data builder writes):
///
///     manifest.json     {"languages": [...], "concepts": [...], "fingerprint": "sha256:…" (optional)}
///     <language>.jsonl  {"text": "…", "split": "probe" | "concept" | "lid-test", "concepts": ["joy", …]}
///     lexicon.json      {"joy": {"en": ["joy", …], "es": ["alegr", …]}, …}   (optional)
///
/// `probe` sentences feed the language-ID probe (their tokens) and the identifier of generated
/// text; `concept` sentences form each language's pool for expertise (a sentence is a positive of
/// every concept it lists, a negative of the others).
public struct DataSet: Sendable {
    public struct Sentence: Sendable {
        public let text: String
        public let concepts: [String]
    }

    public let directory: String
    public let concepts: [String]
    public let fingerprint: String
    /// language → probe sentences / concept-pool sentences.
    public let probe: [String: [String]]
    public let pool: [String: [Sentence]]
    /// concept → language → surface forms.
    public let lexicon: [String: [String: [String]]]
    /// language → "sha256:" of its `<language>.jsonl` bytes (what each task's inputs record).
    public let languageFingerprints: [String: String]
    /// "sha256:" of lexicon.json, or "none".
    public let lexiconFingerprint: String

    public init(directory: String, languages: [String]) throws {
        self.directory = directory
        let manifestPath = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: manifestPath),
              let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(file: manifestPath, line: nil, key: "", message: "missing or not a JSON object")
        }
        concepts = manifest["concepts"] as? [String] ?? []
        var probe: [String: [String]] = [:], pool: [String: [Sentence]] = [:]
        var hasher = SHA256Hex()
        var languageFingerprints: [String: String] = [:]
        for language in languages {
            let path = directory + "/\(language).jsonl"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(file: path, line: nil, key: "", message: "missing: no sentences for language '\(language)'")
            }
            hasher.update(language + "\n" + text)
            var own = SHA256Hex()
            own.update(text)
            languageFingerprints[language] = "sha256:" + own.digest()
            var p: [String] = [], c: [Sentence] = []
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let t = o["text"] as? String, let split = o["split"] as? String else {
                    throw ConfigError(file: path, line: n + 1, key: "", message: "expected {\"text\": …, \"split\": …}")
                }
                switch split {
                case "probe": p.append(t)
                case "concept": c.append(Sentence(text: t, concepts: o["concepts"] as? [String] ?? []))
                case "lid-test": break   // held out for evaluating the language identifier
                default:
                    throw ConfigError(file: path, line: n + 1, key: "split", message: "'\(split)' is not probe, concept or lid-test")
                }
            }
            probe[language] = p
            pool[language] = c
        }
        self.probe = probe
        self.pool = pool
        fingerprint = manifest["fingerprint"] as? String ?? "sha256:" + hasher.digest()
        self.languageFingerprints = languageFingerprints
        if let lex = FileManager.default.contents(atPath: directory + "/lexicon.json") {
            guard let parsed = try? JSONSerialization.jsonObject(with: lex) as? [String: [String: [String]]] else {
                throw ConfigError(file: directory + "/lexicon.json", line: nil, key: "",
                                  message: "not a JSON object of concept → language → surface forms")
            }
            lexicon = parsed
            var h = SHA256Hex()
            h.update(String(decoding: lex, as: UTF8.self))
            lexiconFingerprint = "sha256:" + h.digest()
        } else {
            lexicon = [:]
            lexiconFingerprint = "none"
        }
    }

    /// Positive sentences of `concept` in `language`'s pool.
    public func positives(_ concept: String, in language: String) -> Int {
        (pool[language] ?? []).filter { $0.concepts.contains(concept) }.count
    }
}

import Kernels

struct SHA256Hex {
    var hasher = SHA256()
    mutating func update(_ s: String) { hasher.update(Array(s.utf8)) }
    mutating func digest() -> String { hasher.hexDigest() }
}
