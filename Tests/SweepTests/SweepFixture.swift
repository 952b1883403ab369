import Foundation
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// A small sweep over the tiny fixture models: 3 same-shape checkpoints × 4 languages × 2 concepts,
/// with a synthetic data set written to a scratch directory.
enum SweepFixture {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    /// Writes a config over the committed synthetic data set (Tests/Fixtures/sweep-data); returns its path.
    static func make(in dir: String, samples: Int = 3, extra: String = "") throws -> String {
        let config = """
            name: tiny
            output: out
            workers: 2
            data: \(fixtures)/sweep-data
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
