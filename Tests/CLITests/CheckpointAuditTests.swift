import Foundation
import XCTest

/// `plan --verify` proves a series' checkpoints sound before any compute. A Hugging Face cache is
/// built here the way huggingface_hub lays it out (blobs named by the SHA-256 of their bytes,
/// computed by Python's hashlib; snapshots of links; refs), with one fault injected per step:
/// a shard the index names but the snapshot lacks, a flipped byte in a blob, a truncated file,
/// and a step byte-identical to another. Each is named in one line with its checkpoint and file,
/// and `run` leases no task.
final class CheckpointAuditTests: XCTestCase {
    static let builder = """
        import hashlib, os, sys
        hub, fx = sys.argv[1], sys.argv[2]
        repo = os.path.join(hub, "models--xlsweep--series")
        os.makedirs(repo + "/blobs"); os.makedirs(repo + "/refs")
        def put(data, name):
            with open(f"{repo}/blobs/{name}", "wb") as f: f.write(data)
            return name
        def lfs(data): return put(data, hashlib.sha256(data).hexdigest())
        def git(data): return put(data, hashlib.sha1(b"blob %d\\0" % len(data) + data).hexdigest())
        def read(path): return open(path, "rb").read()
        def snapshot(step, files):
            commit = hashlib.sha1(step.encode()).hexdigest()
            open(f"{repo}/refs/{step}", "w").write(commit)
            d = f"{repo}/snapshots/{commit}"; os.makedirs(d)
            for name, blob in files.items(): os.symlink(f"../../blobs/{blob}", f"{d}/{name}")
        common = {n: git(read(f"{fx}/bloom-tiny/{n}")) for n in ["config.json", "tokenizer.json"]}
        weights = lfs(read(f"{fx}/bloom-tiny/model.safetensors"))
        snapshot("step1", {**common, "model.safetensors": weights})
        sharded = f"{fx}/bloom-tiny-sharded"
        shards = {n: lfs(read(f"{sharded}/{n}")) for n in sorted(os.listdir(sharded)) if n.endswith(".safetensors")}
        del shards["model-00002-of-00003.safetensors"]           # a shard that never arrived
        snapshot("step2", {**common, **shards, "model.safetensors.index.json": git(read(f"{sharded}/model.safetensors.index.json"))})
        data = bytearray(read(f"{fx}/bloom-tiny-fp16/model.safetensors"))
        name = hashlib.sha256(data).hexdigest(); data[-7] ^= 0x40     # a flipped bit in the tensor bytes
        snapshot("step3", {**common, "model.safetensors": put(bytes(data), name), "config.json": git(read(f"{fx}/bloom-tiny-fp16/config.json"))})
        data = read(f"{fx}/bloom-tiny-bf16/model.safetensors")
        snapshot("step4", {**common, "model.safetensors": put(data[:-100], hashlib.sha256(data).hexdigest()),   # cut short
                           "config.json": git(read(f"{fx}/bloom-tiny-bf16/config.json"))})
        snapshot("step5", {**common, "model.safetensors": weights})  # the same bytes as step1
        """

    func testFourInjectedFaultsAreNamedOneLineEachAndNoTaskRuns() throws {
        let dir = try CLI.scratch(self)
        let build = try CLI.python(["-c", Self.builder, dir + "/hub", CLI.fixtures])
        XCTAssertEqual(build.status, 0, build.stderr)
        let steps = (1...5).map { "  - {name: step\($0), repo: xlsweep/series, revision: step\($0)}" }.joined(separator: "\n")
        let config = dir + "/series.yaml"
        try """
            name: series
            output: out
            data: \(CLI.fixtures)/sweep-data
            languages: [en, es]
            checkpoints:
            \(steps)
            probe: {tokens_per_language: 40, seeds: 1}
            expertise: {k: 5, min_positives: 3}
            generation: {enabled: false}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let env = ["HF_HUB_CACHE": dir + "/hub", "HF_HUB_OFFLINE": "1"]
        let plan = try CLI.run(["plan", config, "--verify"], environment: env)
        XCTAssertNotEqual(plan.status, 0)
        let lines = plan.stderr.split(separator: "\n").map(String.init)
        func line(_ parts: String...) -> Bool { lines.contains { l in parts.allSatisfy(l.contains) } }
        XCTAssertTrue(line("checkpoint 'step2'", "model-00002-of-00003.safetensors", "missing", "model.safetensors.index.json"), plan.stderr)
        XCTAssertTrue(line("checkpoint 'step3'", "model.safetensors", "not to its blob's name"), plan.stderr)
        XCTAssertTrue(line("checkpoint 'step4'", "model.safetensors", "truncated"), plan.stderr)
        XCTAssertTrue(line("'step1', 'step5'", "byte-identical"), plan.stderr)
        XCTAssertTrue(line("3 faults in 3 of 5 checkpoints"), plan.stderr)
        XCTAssertFalse(plan.stderr.contains("checkpoint 'step1'"), plan.stderr)
        // `run` checks the same before anything is leased: no fragment is written.
        let run = try CLI.run(["run", config, "--workers", "1"], environment: env)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("no task runs until they are fixed"), run.stderr)
        let fragments = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/out/fragments")) ?? []
        XCTAssertTrue(fragments.isEmpty, "\(fragments)")
        // The sound steps pass, reading every weight file again; the duplicate is listed.
        try (try String(contentsOfFile: config, encoding: .utf8)).replacingOccurrences(of: steps, with: [1, 5].map {
            "  - {name: step\($0), repo: xlsweep/series, revision: step\($0)}" }.joined(separator: "\n"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        let sound = try CLI.run(["plan", config, "--verify"], environment: env)
        XCTAssertEqual(sound.status, 0, sound.stderr)
        XCTAssertTrue(sound.stdout.contains("verified: 2 checkpoints sound") && sound.stdout.contains("2 weight files hash to their blob names"),
                      sound.stdout)
        XCTAssertTrue(sound.stdout.contains("checkpoints step1, step5 hold byte-identical weights"), sound.stdout)
    }
}
