import Foundation
import XCTest

/// tools/make_random_checkpoint.py: a sharded bf16 checkpoint of an HF config that xlsweep and
/// transformers both load, with transformers' init conventions; tools/compare_hidden.py on it.
final class RandomCheckpointTests: XCTestCase {
    func testShardedBF16CheckpointOfAConfig() throws {
        let dir = try CLI.scratch(self)
        let out = dir + "/random"
        let make = try CLI.python(["tools/make_random_checkpoint.py", "--config", CLI.fixtures + "/bloom-tiny/config.json",
                                   "--out", out, "--shard-size", "100KB", "--seed", "3",
                                   "--tokenizer", CLI.fixtures + "/bloom-tiny/tokenizer.json"])
        guard make.status == 0 else {
            if make.stderr.contains("No module named 'torch'") || make.stderr.contains("No module named 'transformers'") {
                throw XCTSkip("torch/transformers not installed (tools/setup.sh --torch)")
            }
            return XCTFail(make.stderr)
        }
        XCTAssertTrue(make.stdout.contains("41 tensors, 0.00 GB bf16 in 3 shard(s)"), make.stdout)

        let inspect = try CLI.run(["inspect", out, "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let info = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        let reference = try CLI.run(["inspect", CLI.fixtures + "/bloom-tiny", "--json"])
        let tiny = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(info["parameters"] as? Int, tiny["parameters"] as? Int)
        XCTAssertEqual(info["dtype"] as? String, "BF16 (41 tensors)")
        XCTAssertEqual((info["files"] as? String)?.components(separatedBy: ", ").count, 3)

        // transformers' conventions: N(0, 0.02) matrices, unit gains, zero biases.
        let values = try CLI.python(["-c", """
            import sys, json
            import glob
            from safetensors.torch import load_file
            t = {}
            for f in glob.glob(sys.argv[1] + "/*.safetensors"):
                t.update(load_file(f))
            emb = t["transformer.word_embeddings.weight"].float()
            gain = t["transformer.h.0.input_layernorm.weight"].float()
            bias = t["transformer.h.0.mlp.dense_h_to_4h.bias"].float()
            print(json.dumps({"std": float(emb.std()), "gain": sorted(set(gain.tolist())), "bias": sorted(set(bias.tolist())),
                              "lm_head": "lm_head.weight" in t}))
            """, out])
        XCTAssertEqual(values.status, 0, values.stderr)
        let v = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(values.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(v["std"] as? Double), 0.02, accuracy: 0.001)
        XCTAssertEqual(v["gain"] as? [Double], [1.0])
        XCTAssertEqual(v["bias"] as? [Double], [0.0])
        XCTAssertEqual(v["lm_head"] as? Bool, false, "a tied head is not stored")

        // xlsweep's bf16 forward on it against transformers' bf16 forward.
        let text = dir + "/in.txt"
        try "In the beginning God created the heaven and the earth.\nВ начале сотворил Бог небо и землю.\n"
            .write(toFile: text, atomically: true, encoding: .utf8)
        let extract = try CLI.run(["extract", "--model", out, "--input", text, "--sites", "hidden.*", "--dtype", "bf16",
                                   "--out", dir + "/ours.h5"])
        XCTAssertEqual(extract.status, 0, extract.stderr)
        let compare = try CLI.python(["tools/compare_hidden.py", "--model", out, "--input", text, "--h5", dir + "/ours.h5"])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        let errors = compare.stdout.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "RMS rel. error ") else { return nil }
            return Double(line[r.upperBound...].split(separator: " ")[0])
        }
        XCTAssertEqual(errors.count, 4, compare.stdout)
        for e in errors { XCTAssertLessThan(e, 0.02, compare.stdout) }
    }
}
