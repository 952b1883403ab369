import Foundation
import XCTest

/// The CLI contract: outputs against independent references, bad input as one-line errors.
final class CommandTests: XCTestCase {
    let sentences = "In the beginning God created the heaven and the earth.\nAu commencement, Dieu créa les cieux.\n\n"
        + "初めに、神が天と地を創造した。\nВ начале сотворил Бог небо и землю.\n"

    func input(_ dir: String, _ text: String? = nil, name: String = "in.txt") throws -> String {
        let path = dir + "/" + name
        try (text ?? sentences).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTokenizeMatchesTokenizersLibrary() throws {
        let dir = try CLI.scratch(self)
        let path = try input(dir)
        let jsonl = try input(dir, "{\"text\": \"two\\nlines\"}\n{\"text\": \"tab\\there\"}\n", name: "in.jsonl")
        for model in ["bloom-tiny", "xglm-tiny"] {
            for file in [path, jsonl] {
                let ours = try CLI.run(["tokenize", "--model", CLI.fixtures + "/" + model, "--input", file])
                XCTAssertEqual(ours.status, 0, ours.stderr)
                let reference = try CLI.python(["-c", """
                    import json, sys
                    from tokenizers import Tokenizer
                    tok = Tokenizer.from_file(sys.argv[1])
                    path = sys.argv[2]
                    if path.endswith(".jsonl"):
                        texts = [json.loads(l)["text"] for l in open(path, encoding="utf-8") if l.strip()]
                    else:
                        texts = open(path, encoding="utf-8").read().split("\\n")[:-1]
                    for t in texts:
                        print(json.dumps({"ids": tok.encode(t).ids}, separators=(",", ":")))
                    """, CLI.fixtures + "/" + model + "/tokenizer.json", file])
                XCTAssertEqual(reference.status, 0, reference.stderr)
                XCTAssertEqual(ours.stdout, reference.stdout, "\(model) \(file)")
            }
        }
    }

    func testExtractJSONLinesAndHDF5AgreeAndAreSelfDescribing() throws {
        let dir = try CLI.scratch(self)
        let path = try input(dir)
        let model = CLI.fixtures + "/bloom-tiny"
        let jsonl = try CLI.run(["extract", "--model", model, "--input", path, "--sites", "hidden.*,blocks.1.mlp_post",
                                 "--format", "jsonl", "--batch-size", "2"])
        XCTAssertEqual(jsonl.status, 0, jsonl.stderr)
        let lines = jsonl.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, "one line per input line, in order")
        let h5 = dir + "/out.h5"
        // The same batching as the JSON lines: fp32 BLAS does not promise a row's bits across batches.
        let run = try CLI.run(["extract", "--model", model, "--input", path, "--sites", "hidden.*,blocks.1.mlp_post",
                               "--batch-size", "2", "--out", h5])
        XCTAssertEqual(run.status, 0, run.stderr)
        // h5dump reads the structure; h5py reads the values, compared with the JSON lines.
        let dump = try CLI.run(["-H", h5], executable: "/usr/bin/h5dump")
        XCTAssertEqual(dump.status, 0, dump.stderr)
        for needle in ["DATASET \"hidden.3\"", "DATASET \"blocks.1.mlp_post\"", "weights_fingerprint", "DIMENSION_LIST"] {
            XCTAssertTrue(dump.stdout.contains(needle), "h5dump -H lacks \(needle)")
        }
        let check = try CLI.python(["-c", """
            import json, sys
            import h5py, numpy as np
            f = h5py.File(sys.argv[1], "r")
            rows = [json.loads(l) for l in sys.stdin.read().splitlines()]
            offsets = f["offsets"][:]
            assert list(f["ids"][:]) == [i for r in rows for i in r["ids"]], "ids"
            for site in ["hidden.0", "hidden.3", "blocks.1.mlp_post"]:
                d = f["activations"][site]
                assert d.dims[0][0].name == "/token" and d.dims[1][0].name.startswith("/unit_"), "named axes"
                for s, r in enumerate(rows):
                    got = d[offsets[s]:offsets[s + 1]]
                    want = np.array(r["sites"][site], dtype=np.float32).reshape(got.shape)
                    assert np.array_equal(got, want), (site, s)
            assert f["text"].asstr()[3] == "初めに、神が天と地を創造した。" and f["text"].asstr()[2] == "", "texts"
            assert f.attrs["weights_fingerprint"].startswith("sha256:")
            print("ok")
            """, h5], stdin: jsonl.stdout)
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertEqual(check.stdout, "ok\n")
    }

    /// argument-parser's own path: help (asked of a nested subcommand too) prints usage and exits 0; a
    /// missing option prints argument-parser's error with usage; an error a command throws while
    /// running is one `xlsweep: error:` line and exit status 1.
    func testHelpUsageAndRunErrorsTakeTheirOwnPaths() throws {
        for args in [["--help"], ["bench", "forward", "--help"], ["help", "run"], ["schema", "--help"]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("OVERVIEW:") && r.stdout.contains("USAGE:"), "\(args): \(r.stdout)")
        }
        let missing = try CLI.run(["extract"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("Missing expected argument '--model <model>'") && missing.stderr.contains("Usage:"), missing.stderr)
        let running = try CLI.run(["run", "/nonexistent/sweep.yaml"])
        XCTAssertEqual(running.status, 1)
        XCTAssertEqual(running.stderr, "xlsweep: error: /nonexistent/sweep.yaml: cannot read the file\n")
    }
}
