import Foundation
import XCTest

/// Bad input gives one line on stderr naming the file and the item, a non-zero exit, no backtrace.
final class ErrorTests: XCTestCase {
    func assertOneLineError(_ arguments: [String], mentions: [String], environment: [String: String] = [:],
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.run(arguments, environment: environment)
        XCTAssertNotEqual(r.status, 0, "exit status", file: file, line: line)
        XCTAssertTrue(r.stdout.isEmpty, "stdout: \(r.stdout)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("xlsweep: error: "), r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "\(r.stderr) lacks \(m)", file: file, line: line) }
    }

    func brokenCopy(_ edit: (String) throws -> Void) throws -> String {
        let dir = try CLI.scratch(self)
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: CLI.fixtures + "/bloom-tiny/" + f, toPath: dir + "/" + f)
        }
        try edit(dir)
        return dir
    }

    func editConfig(_ dir: String, _ key: String, _ value: Any) throws {
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        json[key] = value
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    func testHostilePickleIsRefusedAndNothingRuns() throws {
        let marker = "/tmp/xlsweep-pickle-executed"
        try? FileManager.default.removeItem(atPath: marker)
        try assertOneLineError(["inspect", CLI.fixtures + "/bad/evil-pickle"],
                               mentions: ["evil-pickle/pytorch_model.bin", "posix.system", "nothing was executed"])
        try assertOneLineError(["inspect", CLI.fixtures + "/bad/evil-stack-global"], mentions: ["builtins.eval"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testBrokenCheckpoints() throws {
        let truncated = try brokenCopy { dir in
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/model.safetensors"))
            try h.truncate(atOffset: 20_000)
            try h.close()
        }
        try assertOneLineError(["inspect", truncated], mentions: ["model.safetensors", "truncated"])
        let missing = try brokenCopy { try self.editConfig($0, "n_layer", 4) }
        try assertOneLineError(["extract", "--model", missing, "--input", "/dev/null", "--sites", "hidden.0", "--format", "jsonl"],
                               mentions: ["model.safetensors", "missing tensor", "transformer.h.3.input_layernorm.weight"])
        let shape = try brokenCopy { try self.editConfig($0, "hidden_size", 96) }
        try assertOneLineError(["inspect", shape], mentions: ["transformer.word_embeddings.weight", "[1500, 48]", "[1500, 96]"])
        let unknown = try brokenCopy { try self.editConfig($0, "model_type", "mamba") }
        try assertOneLineError(["inspect", unknown], mentions: ["config.json", "model_type 'mamba'"])
        try assertOneLineError(["inspect", "/nonexistent/model"], mentions: ["/nonexistent/model"])
    }

    /// Shapes whose element count overflows (a hostile header declaring [2^40, 2^40]) give one line
    /// naming the file and the tensor, in safetensors and in a PyTorch zip, never a trap.
    func testHostileSizesAreOneLineErrorsNamingFileAndTensor() throws {
        let safetensors = try brokenCopy { dir in
            let header = #"{"transformer.word_embeddings.weight":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init) + Array(header.utf8)
            bytes += [0, 0, 0, 0]
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }
        try assertOneLineError(["inspect", safetensors], mentions: ["model.safetensors", "transformer.word_embeddings.weight", "overflows"])
        try assertOneLineError(["extract", "--model", safetensors, "--input", "/dev/null", "--sites", "hidden.0", "--format", "jsonl"],
                               mentions: ["model.safetensors", "transformer.word_embeddings.weight"])
        // A PyTorch zip whose pickle rebuilds a tensor of that shape (made with the standard library
        // only: stand-in torch modules give the pickle the global names torch.save writes).
        let pickle = try brokenCopy { dir in
            try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
            let made = try CLI.python(["-c", """
                import pickle, sys, types, zipfile
                torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
                def _rebuild_tensor_v2(*args): pass
                _rebuild_tensor_v2.__module__ = "torch._utils"
                utils._rebuild_tensor_v2 = _rebuild_tensor_v2
                class FloatStorage: pass
                FloatStorage.__module__ = "torch"
                torch.FloatStorage = FloatStorage
                sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
                class Storage: pass
                class Tensor:
                    def __reduce__(self):
                        n = 1 << 40
                        return (_rebuild_tensor_v2, (Storage(), 0, (n, n), (n, 1), False, {}))
                class P(pickle.Pickler):
                    def persistent_id(self, obj):
                        return ("storage", FloatStorage, "0", "cpu", 1) if isinstance(obj, Storage) else None
                import io
                buf = io.BytesIO()
                P(buf, protocol=2).dump({"transformer.word_embeddings.weight": Tensor()})
                with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
                    z.writestr("archive/data.pkl", buf.getvalue())
                    z.writestr("archive/data/0", b"\\0" * 4)
                    z.writestr("archive/version", "3\\n")
                """, dir + "/pytorch_model.bin"])
            XCTAssertEqual(made.status, 0, made.stderr)
        }
        try assertOneLineError(["inspect", pickle], mentions: ["pytorch_model.bin", "transformer.word_embeddings.weight", "overflows"])
    }

    func testMissingRevisionInHubCache() throws {
        let home = try CLI.scratch(self)
        let repo = home + "/hub/models--bigscience--bloom-560m-intermediate"
        try FileManager.default.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/snapshots", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: repo + "/snapshots/abc123", withDestinationPath: CLI.fixtures + "/bloom-tiny")
        try "abc123".write(toFile: repo + "/refs/global_step1000", atomically: true, encoding: .utf8)
        let ok = try CLI.run(["inspect", "bigscience/bloom-560m-intermediate", "--revision", "global_step1000"],
                             environment: ["HF_HOME": home])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("snapshots/abc123"))
        try assertOneLineError(["inspect", "bigscience/bloom-560m-intermediate", "--revision", "global_step2000"],
                               mentions: ["global_step2000", "global_step1000"], environment: ["HF_HOME": home])
    }

    func testBadArgumentsAndInputs() throws {
        let model = CLI.fixtures + "/bloom-tiny"
        try assertOneLineError(["generate", "--model", model, "--force", "blocks.1.mlp_post:999=1"],
                               mentions: ["blocks.1.mlp_post", "999", "0..<192"])
        try assertOneLineError(["generate", "--model", model, "--force", "blocks.1.mlp:3=1"], mentions: ["blocks.1.mlp"])
        try assertOneLineError(["extract", "--model", model, "--input", "/dev/null", "--sites", "hidden.9", "--format", "jsonl"],
                               mentions: ["hidden.9"])
        let dir = try CLI.scratch(self)
        try "{\"text\": \"fine\"}\nnot json\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        try assertOneLineError(["tokenize", "--model", model, "--input", dir + "/bad.jsonl"], mentions: ["bad.jsonl:2"])
        let noDir = try CLI.run(["extract", "--model", model, "--input", "/dev/null", "--sites", "hidden.0", "--out", "/nonexistent/x.h5"])
        XCTAssertNotEqual(noDir.status, 0)
        XCTAssertTrue(noDir.stderr.contains("/nonexistent/x.h5"), noDir.stderr)
    }

    /// `bench paper`'s case builder makes a missing *default* tokenizer or data set itself; a path the
    /// caller names is only checked: one line naming it, nothing fetched, nothing written.
    func testPaperCaseRefusesANamedMissingInputWithoutBuildingIt() throws {
        let dir = try CLI.scratch(self)
        let script = CLI.root + "/tools/make_paper_case.py"
        let cases: [([String], String)] = [
            (["--tokenizer", dir + "/no-tokenizer.json"], dir + "/no-tokenizer.json: no such file"),
            (["--tokenizer", CLI.fixtures + "/bloom-tiny/tokenizer.json", "--data", dir + "/no-data"], dir + "/no-data: no data set"),
        ]
        for (arguments, message) in cases {
            let r = try CLI.python([script, "--out", dir + "/case"] + arguments)
            XCTAssertEqual(r.status, 1, r.stderr)
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stderr)
            XCTAssertTrue(lines.first?.hasPrefix("make_paper_case: " + message) == true, r.stderr)
            XCTAssertTrue(r.stdout.isEmpty, r.stdout)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing written")
    }
}

final class SeriesCommandTests: XCTestCase {
    /// `run --dry-run configs/bloom-560m.yaml` against a cache laid out like the real one:
    /// `bigscience/bloom-560m-intermediate` branches without a tokenizer, plus `bigscience/bloom-560m`.
    func testBloom560mConfigDryRunsWithTheTokenizerFromTheFinalRepo() throws {
        let home = try CLI.scratch(self)
        let fm = FileManager.default
        func add(_ repo: String, _ refs: [String], tokenizer: Bool) throws {
            let dir = home + "/hub/models--" + repo.replacingOccurrences(of: "/", with: "--")
            try fm.createDirectory(atPath: dir + "/refs", withIntermediateDirectories: true)
            for (i, ref) in refs.enumerated() {
                let sha = String(repeating: "\(i % 10)", count: 40)
                try fm.createDirectory(atPath: dir + "/snapshots/" + sha, withIntermediateDirectories: true)
                for file in ["config.json", "model.safetensors"] + (tokenizer ? ["tokenizer.json"] : []) {
                    try fm.createSymbolicLink(atPath: dir + "/snapshots/\(sha)/" + file, withDestinationPath: CLI.fixtures + "/bloom-tiny/" + file)
                }
                try sha.write(toFile: dir + "/refs/" + ref, atomically: true, encoding: .utf8)
            }
        }
        try add("bigscience/bloom-560m-intermediate", [1000, 10000, 100000, 200000, 300000, 400000, 500000, 600000].map { "global_step\($0)" },
                tokenizer: false)
        try add("bigscience/bloom-560m", ["main"], tokenizer: true)
        let config = try String(contentsOfFile: CLI.root + "/configs/bloom-560m.yaml", encoding: .utf8)
            .replacingOccurrences(of: "data: ../data/paper", with: "data: \(CLI.fixtures)/sweep-data")
            .replacingOccurrences(of: "output: ../out/bloom-560m", with: "output: \(home)/out")
            .replacingOccurrences(of: #"languages: \[[^\]]*\]"#, with: "languages: [en, es, fr, de]", options: .regularExpression)
        try config.write(toFile: home + "/bloom-560m.yaml", atomically: true, encoding: .utf8)
        let run = try CLI.run(["run", "--dry-run", home + "/bloom-560m.yaml"], environment: ["HF_HOME": home])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("global_step600000"), run.stdout)
        // The same branches without `tokenizer:` are refused in one line that says what to add.
        try config.replacingOccurrences(of: "tokenizer: {repo: bigscience/bloom-560m}\n", with: "")
            .write(toFile: home + "/no-tokenizer.yaml", atomically: true, encoding: .utf8)
        let refused = try CLI.run(["run", "--dry-run", home + "/no-tokenizer.yaml"], environment: ["HF_HOME": home])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("tokenizer.json") && refused.stderr.contains("tokenizer:"), refused.stderr)
    }
}
