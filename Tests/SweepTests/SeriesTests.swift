import Foundation
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// A Hugging Face cache on disk laid out as huggingface_hub writes it
/// (`hub/models--ORG--NAME/{refs/REF → SHA, snapshots/SHA/…}`), its snapshots made of links to
/// the tiny fixtures' files, with refs named as the real repos name them.
struct FakeHub {
    let home: String
    var hub: String { home + "/hub" }

    /// Adds `repo` with one snapshot per ref, each holding `files` of `fixture` (tokenizer.json left
    /// out when `tokenizer` is false, as BLOOM's intermediate branches lack it).
    func add(_ repo: String, refs: [String], fixture: String, tokenizer: Bool = true) throws {
        let dir = hub + "/models--" + repo.replacingOccurrences(of: "/", with: "--")
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/refs", withIntermediateDirectories: true)
        for (i, ref) in refs.enumerated() {
            let sha = String(format: "%040x", (repo + ref).hashValue.magnitude &+ UInt(i))
            let snapshot = dir + "/snapshots/" + sha
            try fm.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
            for file in ["config.json", "model.safetensors"] + (tokenizer ? ["tokenizer.json"] : []) {
                try fm.createSymbolicLink(atPath: snapshot + "/" + file, withDestinationPath: SweepFixture.fixtures + "/" + fixture + "/" + file)
            }
            try sha.write(toFile: dir + "/refs/" + ref, atomically: true, encoding: .utf8)
        }
    }

    static func make(_ test: XCTestCase) throws -> FakeHub {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: home) }
        return FakeHub(home: home)
    }

    /// The published series the shipped configs name, each as a tiny fixture of its architecture.
    func addPublishedSeries() throws {
        try add("bigscience/bloom-560m-intermediate", refs: ["global_step1000", "global_step10000", "global_step100000",
            "global_step200000", "global_step300000", "global_step400000", "global_step500000", "global_step600000"],
                fixture: "bloom-tiny", tokenizer: false)
        try add("bigscience/bloom-560m", refs: ["main"], fixture: "bloom-tiny")
        try add("bigscience/bloom-7b1-intermediate", refs: ["global_step1000", "global_step10000", "global_step100000",
            "global_step200000", "global_step300000"], fixture: "bloom-tiny", tokenizer: false)
        try add("bigscience/bloom-7b1", refs: ["main"], fixture: "bloom-tiny")
        try add("EleutherAI/pythia-160m", refs: ["main", "step0", "step1", "step512", "step1000", "step8000", "step16000",
            "step33000", "step66000", "step100000", "step143000"], fixture: "gpt-neox-tiny")
        try add("allenai/OLMo-2-0425-1B", refs: ["main", "stage2-ingredient1-step1000-tokens3B", "stage1-step1000000-tokens2098B",
            "stage1-step10000-tokens21B", "stage1-step1000-tokens3B"], fixture: "olmo2-tiny")
        for repo in ["TinyLlama-1.1B-step-50K-105b", "TinyLlama-1.1B-intermediate-step-240k-503b", "TinyLlama-1.1B-intermediate-step-480k-1T",
                     "TinyLlama-1.1B-intermediate-step-715k-1.5T", "TinyLlama-1.1B-intermediate-step-955k-token-2T",
                     "TinyLlama-1.1B-intermediate-step-1195k-token-2.5T", "TinyLlama-1.1B-intermediate-step-1431k-3T"] {
            try add("TinyLlama/" + repo, refs: ["main"], fixture: "llama-tiny")
        }
        try add("LumiOpen/Viking-7B", refs: ["main"] + stride(from: 100, through: 1400, by: 100).map { "\($0)B" }, fixture: "llama-tiny-gqa4")
    }
}

final class SeriesTests: XCTestCase {
    func testTrainingTimeAsSeriesNameIt() {
        let cases: [(String, Int?, Double?)] = [
            ("global_step1000", 1000, nil), ("step143000", 143000, nil), ("step0", 0, nil),
            ("stage1-step1000-tokens5B", 1000, 5e9), ("step1000-tokens4B", 1000, 4e9), ("ckpt_358", 358, nil),
            ("100B", nil, 1e11), ("1400B", nil, 1.4e12), ("TinyLlama-1.1B-intermediate-step-1431k-3T", 1_431_000, 3e12),
            ("TinyLlama-1.1B-step-50K-105b", 50_000, 1.05e11), ("TinyLlama-1.1B-intermediate-step-955k-token-2T", 955_000, 2e12),
            ("TinyLlama-1.1B-intermediate-step-715k-1.5T", 715_000, 1.5e12), ("3000", 3000, nil), ("main", nil, nil), ("fp16", nil, nil),
        ]
        for (name, step, tokens) in cases {
            let t = TrainingTime(name: name)
            XCTAssertEqual(t.step, step, name)
            XCTAssertEqual(t.tokens, tokens, name)
        }
        XCTAssertEqual(TrainingTime(name: "stage2-ingredient1-step1000-tokens3B").stage, 2)
        // A checkpoint whose name states nothing takes its revision's time.
        let late = SweepConfig.Checkpoint(name: "late", path: nil, repo: "bigscience/bloom-560m-intermediate", revision: "global_step400000")
        XCTAssertEqual(late.trainingTime.step, 400000)
        XCTAssertLessThan(TrainingTime(name: "stage1-step1000000-tokens2098B"), TrainingTime(name: "stage2-ingredient1-step1000-tokens3B"))
    }

    func config(_ model: String, hub: FakeHub, extra: String = "") throws -> SweepConfig {
        try SweepConfig(text: """
            output: /tmp/unused
            data: /tmp/unused
            languages: [en]
            \(model)
            \(extra)
            """, file: "/tmp/series.yaml", environment: ["HF_HOME": hub.home])
    }

    func testStepsRevisionsAllAndRepoLists() throws {
        let hub = try FakeHub.make(self)
        try hub.addPublishedSeries()
        let pythia = try config("model: {repo: EleutherAI/pythia-160m, steps: [143000, 0, 1000]}", hub: hub)
        XCTAssertEqual(pythia.checkpoints.map(\.revision), ["step143000", "step0", "step1000"])
        XCTAssertEqual(pythia.checkpoints.map(\.name), ["step143000", "step0", "step1000"])

        let olmo = try config("model: {repo: allenai/OLMo-2-0425-1B, revisions: all}", hub: hub)
        XCTAssertEqual(olmo.checkpoints.map(\.name), ["stage1-step1000-tokens3B", "stage1-step10000-tokens21B",
                                                      "stage1-step1000000-tokens2098B", "stage2-ingredient1-step1000-tokens3B"])
        XCTAssertEqual(olmo.checkpoints.map { $0.trainingTime.tokens }, [3e9, 21e9, 2098e9, 3e9])

        let tiny = try config("model: {repo: [TinyLlama/TinyLlama-1.1B-intermediate-step-480k-1T, TinyLlama/TinyLlama-1.1B-step-50K-105b]}", hub: hub)
        XCTAssertEqual(tiny.checkpoints.map(\.name), ["TinyLlama-1.1B-intermediate-step-480k-1T", "TinyLlama-1.1B-step-50K-105b"])
        XCTAssertEqual(tiny.checkpoints.map(\.revision), ["main", "main"])
        XCTAssertEqual(tiny.checkpoints.map { $0.trainingTime.step }, [480_000, 50_000])
        let tinyAll = try config("model: {repo: [TinyLlama/TinyLlama-1.1B-intermediate-step-480k-1T, TinyLlama/TinyLlama-1.1B-step-50K-105b], revisions: all}", hub: hub)
        XCTAssertEqual(tinyAll.checkpoints.map { $0.trainingTime.step }, [50_000, 480_000])

        let viking = try config("model: {repo: LumiOpen/Viking-7B, revisions: all}", hub: hub)
        XCTAssertEqual(viking.checkpoints.first?.name, "100B")
        XCTAssertEqual(viking.checkpoints.last?.name, "1400B")
        XCTAssertEqual(viking.checkpoints.count, 14)
    }

    func testMissingAndAmbiguousMatchesListWhatTheCacheHas() throws {
        let hub = try FakeHub.make(self)
        try hub.addPublishedSeries()
        func message(_ model: String) -> String {
            do { _ = try config(model, hub: hub); return "no error" } catch { return "\(error)" }
        }
        let missing = message("model: {repo: EleutherAI/pythia-160m, steps: [2000]}")
        XCTAssertTrue(missing.contains("model.steps") && missing.contains("step 2000") && missing.contains("step143000"), missing)
        let ambiguous = message("model: {repo: allenai/OLMo-2-0425-1B, steps: [1000]}")
        XCTAssertTrue(ambiguous.contains("ambiguous") && ambiguous.contains("stage1-step1000-tokens3B")
                      && ambiguous.contains("stage2-ingredient1-step1000-tokens3B"), ambiguous)
        let uncached = message("model: {repo: EleutherAI/pythia-70m, steps: [1000]}")
        XCTAssertTrue(uncached.contains("EleutherAI/pythia-70m") && uncached.contains("not in the local Hugging Face cache"), uncached)
        let both = message("model: {repo: EleutherAI/pythia-160m, steps: [1000], revisions: [step1000]}")
        XCTAssertTrue(both.contains("not both"), both)
        let badTokenizer = message("tokenizer: {repo: a/b, path: x}\nmodel: {repo: EleutherAI/pythia-160m, steps: [1000]}")
        XCTAssertTrue(badTokenizer.contains("tokenizer"), badTokenizer)
    }

    /// Every shipped config resolves (what `run --dry-run` does) against a cache laid out like the
    /// real repos, tokenizers from other repos included; BLOOM's intermediate branches have none.
    func testShippedConfigsResolveAgainstAFakeCache() throws {
        let hub = try FakeHub.make(self)
        try hub.addPublishedSeries()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let environment = ["HF_HOME": hub.home]
        for name in ["bloom-560m", "bloom-7b1", "pythia-160m", "olmo2-1b", "tinyllama", "viking-7b"] {
            let text = try String(contentsOfFile: root + "/configs/\(name).yaml", encoding: .utf8)
                .replacingOccurrences(of: "data: ../data/paper", with: "data: \(SweepFixture.fixtures)/sweep-data")
                .replacingOccurrences(of: "output: ../out/\(name)", with: "output: \(hub.home)/out-\(name)")
                .replacingOccurrences(of: #"languages: \[[^\]]*\]"#, with: "languages: [en, es, fr, de]", options: .regularExpression)
            let config = try SweepConfig(text: text, file: root + "/configs/\(name).yaml", environment: environment)
            let sweep = try ResolvedSweep(config, environment: environment)
            XCTAssertFalse(sweep.plan.tasks.isEmpty, name)
            if name.hasPrefix("bloom") {
                XCTAssertTrue(sweep.tokenizers.values.allSatisfy { $0.contains("models--bigscience--\(name)/snapshots/") }, "\(sweep.tokenizers)")
                XCTAssertEqual(Set(sweep.fingerprints.checkpoints.values.map(\.tokenizer)).count, 1)
            }
        }
        // Without `tokenizer:`, the intermediate branches are refused with a line that says what to add.
        let text = try String(contentsOfFile: root + "/configs/bloom-560m.yaml", encoding: .utf8)
            .replacingOccurrences(of: "tokenizer: {repo: bigscience/bloom-560m}\n", with: "")
            .replacingOccurrences(of: "data: ../data/paper", with: "data: \(SweepFixture.fixtures)/sweep-data")
            .replacingOccurrences(of: "output: ../out/bloom-560m", with: "output: \(hub.home)/out")
            .replacingOccurrences(of: #"languages: \[[^\]]*\]"#, with: "languages: [en, es, fr, de]", options: .regularExpression)
        XCTAssertThrowsError(try ResolvedSweep(try SweepConfig(text: text, file: "/tmp/b.yaml", environment: environment),
                                               environment: environment)) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.json") && "\(error)".contains("tokenizer:"), "\(error)")
        }
    }
}
