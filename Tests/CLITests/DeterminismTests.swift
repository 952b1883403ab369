import Foundation
import XCTest

final class DeterminismTests: XCTestCase {
    /// fp32 activations of the bundled model (products large enough to be tiled and split over
    /// threads) are bit-identical whatever the thread count, the batch a sentence is in and the
    /// CPU level of the fp32 kernels.
    func testThreadsBatchesAndCPULevelsDoNotChangeFP32Outputs() throws {
        let dir = try CLI.scratch(self)
        let text = (0..<12).map { "Sentence \($0) of a longer text, so that the products are split over threads: "
            + String(repeating: "in the beginning was the word, and the word was with the text. ", count: 1 + $0 % 3) }
            .joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let runs: [(threads: String, batch: String, cpu: String?)] = [("1", "5", nil), ("2", "5", nil), ("3", "1", nil),
                                                                      ("2", "12", "avx2"), ("2", "3", "generic")]
        var outputs: [String] = []
        for run in runs {
            var environment = ["XLSWEEP_THREADS": run.threads]
            if let cpu = run.cpu { environment["XLSWEEP_CPU"] = cpu }
            let r = try CLI.run(["extract", "--model", CLI.root + "/models/bundled/global_step3000", "--input", dir + "/in.txt",
                                 "--dtype", "fp32", "--sites", "hidden.*,blocks.*.mlp_post,blocks.*.attn_out", "--format", "jsonl",
                                 "--batch-size", run.batch], environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            outputs.append(r.stdout)
        }
        XCTAssertFalse(outputs[0].isEmpty)
        for (run, output) in zip(runs, outputs).dropFirst() { XCTAssertTrue(output == outputs[0], "\(run) differs from \(runs[0])") }
    }

    /// Same inputs give bit-identical activations whatever the thread count.
    func testThreadCountDoesNotChangeOutputs() throws {
        let dir = try CLI.scratch(self)
        let text = (0..<12).map { "Sentence number \($0): a little text in English, en français, 日本語で。" }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        var outputs: [String] = []
        for threads in ["1", "2", "3"] {
            let r = try CLI.run(["extract", "--model", CLI.fixtures + "/xglm-tiny", "--input", dir + "/in.txt",
                                 "--sites", "hidden.*,blocks.*.mlp_post", "--format", "jsonl", "--batch-size", "5"],
                                environment: ["XLSWEEP_THREADS": threads])
            XCTAssertEqual(r.status, 0, r.stderr)
            outputs.append(r.stdout)
        }
        XCTAssertFalse(outputs[0].isEmpty)
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
    }

    /// `generate --greedy` equals transformers' greedy continuation; seeded sampling is reproducible.
    func testGenerateCommand() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: CLI.fixtures + "/bloom-tiny/reference.json"))
        let meta = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let prompt = (meta["prompts"] as! [String])[0]
        let expected = ((meta["sequences"] as! [[String: Any]])[0]["greedy"] as! [Int])
        let r = try CLI.run(["generate", "--model", CLI.fixtures + "/bloom-tiny", "--prompt", prompt, "--greedy",
                             "--max-new-tokens", "20", "--ignore-eos"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(out["ids"] as? [Int], expected)
        XCTAssertNotNil(out["text"] as? String)
        let args = ["generate", "--model", CLI.fixtures + "/xglm-tiny", "--seed", "11", "--temperature", "0.8", "--top-p", "0.9",
                    "--force", "blocks.1.mlp_post:3=2.5,blocks.1.mlp_post:17=2.5"]
        let a = try CLI.run(args), b = try CLI.run(args), c = try CLI.run(args + ["--no-cache"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertEqual(a.stdout, c.stdout, "KV cache and full recomputation agree")
        XCTAssertTrue(a.stdout.contains("\"prompt_ids\":[2]"), "XGLM's start token is </s>: \(a.stdout)")
    }
}

final class ProbingDeterminismTests: XCTestCase {
    /// Every AP and probe weight is bit-identical for 1, 2 and 3 threads.
    func testProbingResultsDoNotDependOnThreadCount() throws {
        var sums: [String] = []
        for threads in ["1", "2", "3"] {
            let r = try CLI.run(["bench", "probing", "--units", "700", "--sentences", "90", "--languages", "4",
                                 "--tokens-per-language", "60", "--dims", "40", "--no-sklearn", "--checksum"],
                                environment: ["XLSWEEP_THREADS": threads])
            XCTAssertEqual(r.status, 0, r.stderr)
            sums.append(String(r.stdout.split(separator: "\n").last ?? ""))
        }
        XCTAssertTrue(sums[0].hasPrefix("checksum "), sums[0])
        XCTAssertEqual(Set(sums).count, 1, "\(sums)")
    }
}
