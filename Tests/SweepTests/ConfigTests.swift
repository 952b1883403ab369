import Foundation
import TestSupport
import XCTest
@testable import SweepRunner
@testable import SweepCore

final class ConfigTests: XCTestCase {
    static let fixtures = TestSupport.fixtures

    let valid = """
        name: tiny
        output: out/tiny
        workers: 3
        languages: [en, es, fr, de]
        data: data/tiny
        checkpoints:
          - name: a
            path: bloom-tiny
          - name: b
            path: bloom-tiny-fp16
          - path: xglm-tiny
        probe:
          tokens_per_language: 200
          seeds: 2
        expertise:
          k: 50
          concepts: [joy, earthquake]
          pooling: max
        generation:
          samples: 4
          forcing: on_p90
        """

    func file(_ text: String) throws -> String {
        let dir = Self.fixtures
        let path = dir + "/config-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testReadsAValidConfigWithDefaultsAndRelativePaths() throws {
        let c = try SweepConfig(path: try file(valid))
        XCTAssertEqual(c.name, "tiny")
        XCTAssertEqual(c.workers, 3)
        XCTAssertEqual(c.output, Self.fixtures + "/out/tiny")
        XCTAssertEqual(c.checkpoints.map(\.name), ["a", "b", "xglm-tiny"])
        XCTAssertEqual(c.checkpoints[0].path, Self.fixtures + "/bloom-tiny")
        XCTAssertEqual(c.probe.tokensPerLanguage, 200)
        XCTAssertEqual(c.probe.c, 1.0)
        XCTAssertEqual(c.probe.testFraction, 0.2)
        XCTAssertEqual(c.expertise.pooling, .max)
        XCTAssertEqual(c.expertise.k, 50)
        XCTAssertEqual(c.generation.forcing, .onP90)
        XCTAssertEqual(c.generation.newTokens, 20)
        XCTAssertEqual(c.generation.temperature, 0.8)
        XCTAssertEqual(c.permutations, 20)
    }

    func assertConfigError(_ text: String, line: Int?, key: String, mentions: String, file f: StaticString = #filePath,
                           l: UInt = #line) throws {
        let path = try file(text)
        XCTAssertThrowsError(try SweepConfig(path: path), file: f, line: l) { error in
            guard let e = error as? ConfigError else { return XCTFail("\(error)", file: f, line: l) }
            XCTAssertEqual(e.file, path, file: f, line: l)
            XCTAssertEqual(e.line, line, "\(e)", file: f, line: l)
            XCTAssertEqual(e.key, key, "\(e)", file: f, line: l)
            XCTAssertTrue(e.description.contains(mentions), "\(e)", file: f, line: l)
        }
    }

    func testTyposWrongTypesAndMissingKeysNameFileLineAndKey() throws {
        try assertConfigError(valid.replacingOccurrences(of: "  seeds: 2", with: "  sedes: 2"),
                              line: 14, key: "probe.sedes", mentions: "did you mean 'seeds'?")
        try assertConfigError(valid.replacingOccurrences(of: "workers: 3", with: "wokers: 3"),
                              line: 3, key: "wokers", mentions: "did you mean 'workers'?")
        try assertConfigError(valid.replacingOccurrences(of: "  k: 50", with: "  k: many"),
                              line: 16, key: "expertise.k", mentions: "expected an integer")
        try assertConfigError(valid.replacingOccurrences(of: "  forcing: on_p90", with: "  forcing: median"),
                              line: 21, key: "generation.forcing", mentions: "on_p50")
        try assertConfigError(valid.replacingOccurrences(of: "output: out/tiny\n", with: ""),
                              line: 1, key: "output", mentions: "missing")
        try assertConfigError(valid.replacingOccurrences(of: "    path: bloom-tiny\n", with: "    path: bloom-tiny\n    repo: x/y\n"),
                              line: 7, key: "checkpoints[0].path", mentions: "either path or repo")
        try assertConfigError("output: [unclosed\n", line: 2, key: "", mentions: "not valid YAML")
    }

    func testPlanShapeDependenciesAndSeeds() throws {
        let plan = Plan(checkpoints: ["s1", "s2", "s3"], languages: ["en", "es", "fr", "de"], layers: ["s1": 3, "s2": 3, "s3": 3],
                        concepts: ["joy", "earthquake"], generation: true)
        XCTAssertEqual(plan.count(.extract), 12)
        XCTAssertEqual(plan.count(.probe), 12)          // hidden.0…hidden.3 per checkpoint
        XCTAssertEqual(plan.count(.expertise), 12)
        XCTAssertEqual(plan.count(.alignment), 3)
        XCTAssertEqual(plan.count(.lape), 3)
        XCTAssertEqual(plan.count(.generate), 24)
        XCTAssertEqual(Set(plan.tasks.map(\.id)).count, plan.tasks.count)
        // Dependency order: every task comes after what it waits for.
        var seen = Set<String>()
        for t in plan.tasks {
            for d in plan.dependencies[t.id]! { XCTAssertTrue(seen.contains(d), "\(t) before \(d)") }
            seen.insert(t.id)
        }
        XCTAssertEqual(plan.dependencies["probe/s2/1"]!, ["extract/s2/en", "extract/s2/es", "extract/s2/fr", "extract/s2/de"])
        XCTAssertEqual(plan.dependencies["generate/s1/joy/es"]!, ["expertise/s1/es"])
        // At the start: every extraction, and each checkpoint's unforced generation (it reads no fragment).
        XCTAssertEqual(plan.ready(done: []).map(\.kind), Array(repeating: [TaskKind](repeating: .extract, count: 4) + [.unforced], count: 3).flatMap { $0 })
        let afterS1 = Set(["extract/s1/en", "extract/s1/es", "extract/s1/fr", "extract/s1/de"])
        XCTAssertTrue(plan.ready(done: afterS1).contains { $0.id == "probe/s1/0" })
        // Seeds come from identity: stable, distinct, and different for another sweep seed.
        let t = plan.tasks[5]
        XCTAssertEqual(t.seed(sweepSeed: 0), SweepTask(kind: t.kind, checkpoint: t.checkpoint, layer: t.layer,
                                                       language: t.language, concept: t.concept).seed(sweepSeed: 0))
        XCTAssertEqual(Set(plan.tasks.map { $0.seed(sweepSeed: 0) }).count, plan.tasks.count)
        XCTAssertNotEqual(t.seed(sweepSeed: 0), t.seed(sweepSeed: 1))
    }

    func testResolvingReportsEveryMissingCheckpoint() throws {
        let text = valid + "\n" + """
            model:
              repo: bigscience/not-cached
              revisions: [global_step1000, global_step2000]
            """
        let config = try SweepConfig(path: try file(text))
        XCTAssertThrowsError(try ResolvedSweep(config)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("2 of 5 checkpoints unavailable"), message)
            XCTAssertTrue(message.contains("checkpoint 'global_step1000'") && message.contains("checkpoint 'global_step2000'"), message)
        }
        // Resolving reads the data set and writes a fingerprint cache into the output: both elsewhere.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-config-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: scratch) }
        let resolvable = valid.replacingOccurrences(of: "output: out/tiny", with: "output: \(scratch)")
            .replacingOccurrences(of: "data: data/tiny", with: "data: sweep-data")
        let resolved = try ResolvedSweep(try SweepConfig(path: try file(resolvable)))
        XCTAssertEqual(resolved.modelConfigs["xglm-tiny"]?.nLayers, 2)
        XCTAssertEqual(resolved.plan.count(.probe), 4 + 4 + 3)
        XCTAssertEqual(resolved.concepts, ["joy", "earthquake"])
    }
}

final class ShippedConfigTests: XCTestCase {
    /// Every config in configs/ is valid; the paper configs name the models and the paper's defaults.
    func testShippedConfigsParse() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertTrue(Set(files).isSuperset(of: ["bloom-560m.yaml", "bloom-7b1.yaml", "xglm-257m.yaml", "tiny.yaml", "demo.yaml"]))
        // Series read the local cache's refs: resolve them against one laid out like the real repos.
        let hub = try FakeHub.make(self)
        try hub.addPublishedSeries()
        for f in files {
            let c = try SweepConfig(path: dir + "/" + f, environment: ["HF_HOME": hub.home])
            if ["bloom-560m.yaml", "bloom-7b1.yaml", "xglm-257m.yaml"].contains(f) {
                XCTAssertEqual(c.expertise.k, 500, f)
                XCTAssertEqual(c.probe.tokensPerLanguage, 1000, f)
                XCTAssertEqual(c.generation.samples, 100, f)
                XCTAssertEqual(c.generation.temperature, 0.8, f)
                XCTAssertEqual(c.generation.topP, 0.9, f)
                XCTAssertGreaterThanOrEqual(c.languages.count, 12, f)
            }
        }
        let bloom = try SweepConfig(path: dir + "/bloom-560m.yaml", environment: ["HF_HOME": hub.home])
        XCTAssertEqual(Set(bloom.checkpoints.map(\.tokenizer)), [.repo("bigscience/bloom-560m", revision: nil)])
        XCTAssertEqual(bloom.checkpoints.map(\.revision), ["global_step1000", "global_step10000", "global_step100000",
            "global_step200000", "global_step300000", "global_step400000", "global_step500000", "global_step600000"])
        XCTAssertEqual(Set(bloom.checkpoints.compactMap(\.repo)), ["bigscience/bloom-560m-intermediate"])
    }
}
