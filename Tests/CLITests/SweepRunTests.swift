import Foundation
import TestSupport
import XCTest
import SweepRunner

/// A config over the tiny fixture models and the synthetic data set, written into `dir`.
func sweepConfig(_ dir: String, output: String = "out", samples: Int = 3, lease: Int = 30, controls: Int = 3, extra: String = "",
                 checkpoints: [(name: String, fixture: String)] = [("step1", "bloom-tiny"), ("step2", "bloom-tiny-fp16"),
                                                                    ("step3", "bloom-tiny-bf16")]) throws -> String {
    try TestSupport.tinySweep(in: dir, file: "\(output).yaml", output: output, samples: samples, lease: lease, controls: controls,
                              extra: extra, checkpoints: checkpoints)
}

/// Starts `xlsweep coordinator` on a free loopback port, logging to `dir/coordinator.log`; returns
/// the process and the endpoint it wrote to its run record.
func startCoordinator(config: String, dir: String, extra: [String] = []) throws -> (Process, String, String) {
    let log = dir + "/coordinator.log"
    FileManager.default.createFile(atPath: log, contents: nil)
    let coordinator = Process()
    coordinator.executableURL = URL(fileURLWithPath: CLI.binary!)
    coordinator.arguments = ["coordinator", config, "--bind", "tcp://127.0.0.1:*"] + extra
    coordinator.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    coordinator.standardOutput = FileHandle.nullDevice
    try coordinator.run()
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        usleep(50_000)
        if let endpoint = try? RunRecord.read(directory: dir + "/out").endpoint { return (coordinator, endpoint, log) }
    }
    coordinator.terminate()
    throw SweepError("the coordinator never wrote \(dir)/out/run.json")
}

/// Every dataset of two sweep.h5 files but the config text and the timeline, byte for byte (NaNs
/// included), and every root attribute, via h5py (`tools/compare_sweeps.py`; the cluster test uses it too).
/// `ignoring`: further datasets or attributes left out (e.g. `checkpoint_kernels`, which names the CPU level).
func assertSameSweepDatasets(_ a: String, _ b: String, ignoring: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try CLI.python([CLI.root + "/tools/compare_sweeps.py", a, b, "--ignore", ignoring.joined(separator: ",")])
    XCTAssertEqual(r.stdout, "same\n", r.stderr, file: file, line: line)
}


/// The sweep with real processes, sockets and files: worker counts, killed workers and
/// coordinators, truncated fragments, garbage on the wire.
final class SweepRunTests: XCTestCase {
    func assertSameDatasets(_ a: String, _ b: String, ignoring: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        try assertSameSweepDatasets(a, b, ignoring: ignoring, file: file, line: line)
    }

    func testWorkerCountDoesNotChangeTheResultAndTheFileIsSelfDescribing() throws {
        let dir = try CLI.scratch(self)
        let one = try CLI.run(["run", try sweepConfig(dir, output: "one"), "--workers", "1"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("wrote \(dir)/one/sweep.h5"), one.stdout)
        let three = try CLI.run(["run", try sweepConfig(dir, output: "three"), "--workers", "3"])
        XCTAssertEqual(three.status, 0, three.stderr)
        try assertSameDatasets(dir + "/one/sweep.h5", dir + "/three/sweep.h5")
        let dump = try CLI.run(["-H", dir + "/one/sweep.h5"], executable: "/usr/bin/h5dump")
        for needle in ["DATASET \"probe_accuracy\"", "DATASET \"overlap\"", "DIMENSION_LIST", "ATTRIBUTE \"CLASS\"", "REFERENCE_LIST"] {
            XCTAssertTrue(dump.stdout.contains(needle), needle)
        }
        let xr = try CLI.python(["-c", """
            import sys, xarray as xr
            ds = xr.open_dataset(sys.argv[1], engine="h5netcdf", phony_dims="sort")
            assert not [d for d in ds.dims if d.startswith("phony")], ds.dims
            assert ds["probe_accuracy"].dims == ("checkpoint", "layer", "seed")
            assert ds["expert_ap"].dims == ("checkpoint", "language", "concept", "unit")
            assert list(ds["checkpoint"].values) == ["step1", "step2", "step3"]
            acc = ds["probe_accuracy"].values
            assert ((acc >= 0) & (acc <= 1)).all()
            print("ok")
            """, dir + "/one/sweep.h5"])
        XCTAssertEqual(xr.stdout, "ok\n", xr.stderr)
        let status = try CLI.run(["status", dir + "/one"])
        XCTAssertTrue(status.stdout.contains("81/81 tasks done"), status.stdout)
    }

    /// fp32 products are the same bits at every CPU level: a sweep whose workers run the AVX2
    /// kernels writes the sweep.h5 of one at the level this CPU detects (but for the dataset
    /// naming the level).
    /// `bench sweep`'s real sweep writes where its coordinator looks (the config's text is what
    /// workers read) and finishes with no failed task; a failure would make it exit non-zero.
    func testBenchSweepRunsARealSweepWithNoFailures() throws {
        let r = try CLI.run(["bench", "sweep", "--tasks", "100", "--clients", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("(0 failed)"), r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("dispatch: "), r.stdout)
        XCTAssertFalse(r.stderr.contains("reported done, but"), r.stderr)
    }

    func testCPULevelDoesNotChangeTheSweep() throws {
        let dir = try CLI.scratch(self)
        let detected = try CLI.run(["run", try sweepConfig(dir, output: "detected"), "--workers", "2"])
        XCTAssertEqual(detected.status, 0, detected.stderr)
        let avx2 = try CLI.run(["run", try sweepConfig(dir, output: "avx2"), "--workers", "2"], environment: ["XLSWEEP_CPU": "avx2"])
        XCTAssertEqual(avx2.status, 0, avx2.stderr)
        try assertSameDatasets(dir + "/detected/sweep.h5", dir + "/avx2/sweep.h5", ignoring: ["checkpoint_kernels"])
        let kernels = try CLI.python(["-c", "import sys, h5py; print(sorted(set(h5py.File(sys.argv[1])['checkpoint_kernels'].asstr()[()])))",
                                      dir + "/avx2/sweep.h5"])
        XCTAssertEqual(kernels.stdout, "['fp32 avx2 (portable numerics)']\n", kernels.stderr)
    }

    /// Kill a worker mid-task, then kill the coordinator (with its workers) and start it again:
    /// the sweep completes, and its datasets equal an undisturbed run's.
    func testKilledWorkerAndKilledCoordinatorLoseNothing() throws {
        let dir = try CLI.scratch(self)
        let reference = try CLI.run(["run", try sweepConfig(dir, output: "calm", samples: 40), "--workers", "2"])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let cfg = try sweepConfig(dir, output: "storm", samples: 40, lease: 2)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: CLI.binary!)
        run.arguments = ["run", cfg, "--workers", "2"]
        run.standardError = FileHandle.nullDevice
        run.standardOutput = FileHandle.nullDevice
        try run.run()
        let fragments = dir + "/storm/fragments"
        func count() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: fragments)) ?? []).filter { $0.hasSuffix(".sha256") }.count }
        func children(of pid: Int32) -> [Int32] {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0) }
        }
        let deadline = Date().addingTimeInterval(60)
        while count() < 20 && Date() < deadline { usleep(20_000) }
        let workers = children(of: run.processIdentifier)
        XCTAssertFalse(workers.isEmpty, "no worker processes found")
        kill(workers[0], SIGKILL)
        while count() < 40 && Date() < deadline && run.isRunning { usleep(5_000) }
        let survivors = children(of: run.processIdentifier)
        kill(run.processIdentifier, SIGKILL)
        for w in survivors { kill(w, SIGKILL) }
        run.waitUntilExit()
        XCTAssertLessThan(count(), 81, "the sweep finished before the coordinator was killed; the test proves nothing")
        let resumed = try CLI.run(["run", cfg, "--workers", "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("already done"), resumed.stderr)
        try assertSameDatasets(dir + "/calm/sweep.h5", dir + "/storm/sweep.h5")
    }

    func testTruncatedFragmentIsDetectedAndRedone() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir)
        XCTAssertEqual(try CLI.run(["run", cfg]).status, 0)
        // Beside the fragments: its activations are virtual datasets that read them by relative path.
        try FileManager.default.copyItem(atPath: dir + "/out/sweep.h5", toPath: dir + "/out/first.h5")
        let victim = dir + "/out/fragments/expertise+step2+fr.h5"
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: victim))
        try h.truncate(atOffset: 500)
        try h.close()
        let status = try CLI.run(["status", dir + "/out"])
        XCTAssertTrue(status.stdout.contains("80/81") && status.stdout.contains("expertise/step2/fr"), status.stdout)
        let merge = try CLI.run(["merge", dir + "/out"])
        XCTAssertNotEqual(merge.status, 0)
        XCTAssertTrue(merge.stderr.contains("expertise/step2/fr") && merge.stderr.contains("--allow-partial"), merge.stderr)
        let partial = try CLI.run(["merge", dir + "/out", "--allow-partial"])
        XCTAssertEqual(partial.status, 0, partial.stderr)
        let again = try CLI.run(["run", cfg])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("80 already done"), again.stderr)
        try assertSameDatasets(dir + "/out/first.h5", dir + "/out/sweep.h5")
    }

    /// Garbage and malformed frames sent to the coordinator's socket are dropped and logged; the
    /// sweep then completes with a real worker.
    func testMalformedFramesAreDroppedAndLogged() throws {
        let dir = try CLI.scratch(self)
        let (coordinator, endpoint, log) = try startCoordinator(config: try sweepConfig(dir), dir: dir)
        defer { if coordinator.isRunning { coordinator.terminate() } }
        let attacker = try ZMQSocket(.dealer)
        try attacker.connect(endpoint)
        var valid = Message(.request).encode()
        let garbage: [[[UInt8]]] = [
            [Array("hello there".utf8)],
            [[UInt8](repeating: 0xFF, count: 5000)],
            [Array(valid.prefix(9))],                                    // truncated header
            [valid + [1, 2, 3]],                                          // length mismatch
            [Array("XLSW".utf8) + [9, 0, 2, 2, 0, 0, 0] + Array("{}".utf8)],  // unknown version
            [Array("XLSW".utf8) + [UInt8(Message.version), 0, 99, 2, 0, 0, 0] + Array("{}".utf8)], // unknown type
            [Array("XLSW".utf8) + [UInt8(Message.version), 0, 2, 3, 0, 0, 0] + Array("[1]".utf8)], // not an object
            [valid, valid],                                               // two frames
            [Message(.task, ["task": "x"]).encode()],                     // a coordinator-only message
        ]
        for frames in garbage { try attacker.send(frames) }
        valid[0] = 0
        try attacker.send([valid])
        // `status` asks the running coordinator.
        let status = try CLI.run(["status", dir + "/out"])
        XCTAssertTrue(status.stdout.hasPrefix("running (coordinator pid \(coordinator.processIdentifier)"), status.stdout)
        XCTAssertTrue(status.stdout.contains("0/81 tasks done"), status.stdout)
        let worker = try CLI.run(["worker", "--connect", endpoint])
        XCTAssertEqual(worker.status, 0, worker.stderr)
        coordinator.waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let dropped = text.split(separator: "\n").filter { $0.contains("dropped") }
        XCTAssertGreaterThanOrEqual(dropped.count, garbage.count, text)
        XCTAssertTrue(text.contains("bad magic") && text.contains("body length") && text.contains("protocol version"), text)
        XCTAssertTrue(text.contains("unknown message type 99") && text.contains("body is not a JSON object"), text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/sweep.h5"))
    }
}

final class CurveTests: XCTestCase {
    /// With CURVE keys the coordinator serves only workers whose public key it was given.
    func testUnauthorisedWorkersAreRefused() throws {
        let dir = try CLI.scratch(self)
        for name in ["coordinator", "worker-a", "worker-b"] {
            let k = try CLI.run(["keys", "--out", dir + "/keys", "--name", name])
            XCTAssertEqual(k.status, 0, k.stderr)
        }
        let secret = try String(contentsOfFile: dir + "/keys/worker-a.key", encoding: .utf8)
        XCTAssertTrue(secret.hasPrefix("public ") && secret.contains("\nsecret "))
        let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/keys/worker-a.key")[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o600)
        try FileManager.default.createDirectory(atPath: dir + "/authorized", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/keys/worker-a.pub", toPath: dir + "/authorized/worker-a.pub")
        let (coordinator, endpoint, log) = try startCoordinator(
            config: try sweepConfig(dir), dir: dir,
            extra: ["--key", dir + "/keys/coordinator.key", "--authorized", dir + "/authorized"])
        defer { if coordinator.isRunning { coordinator.terminate() } }
        let server = ["--server-key", dir + "/keys/coordinator.pub"]
        let intruder = try CLI.run(["worker", "--connect", endpoint, "--patience", "3", "--key", dir + "/keys/worker-b.key"] + server)
        XCTAssertNotEqual(intruder.status, 0)
        XCTAssertTrue(intruder.stderr.contains("no welcome"), intruder.stderr)
        let plain = try CLI.run(["worker", "--connect", endpoint, "--patience", "3"])
        XCTAssertNotEqual(plain.status, 0)
        let member = try CLI.run(["worker", "--connect", endpoint, "--key", dir + "/keys/worker-a.key"] + server)
        XCTAssertEqual(member.status, 0, member.stderr)
        coordinator.waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let workerB = try String(contentsOfFile: dir + "/keys/worker-b.pub", encoding: .utf8).dropFirst(7).prefix(40)
        XCTAssertTrue(text.contains("refused a connection with an unauthorised key \(workerB)"), text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out/sweep.h5"))
    }
}

final class DiskFullTests: XCTestCase {
    /// A worker whose disk fills reports the task failed with the reason; the run says which tasks
    /// failed and why, keeps what it finished, and exits non-zero.
    func testFullDiskIsReportedAsAFailedTaskWithItsReason() throws {
        let dir = try CLI.scratch(self)
        let mountPoint = dir + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try CLI.run(["-t", "tmpfs", "-o", "size=96k", "tmpfs", mountPoint], executable: "/bin/mount")
        guard mount.status == 0 else { throw XCTSkip("cannot mount a small tmpfs here (needs root): \(mount.stderr)") }
        defer { _ = try? CLI.run([mountPoint], executable: "/bin/umount") }
        let cfg = try sweepConfig(dir, output: "small/out")
        let r = try CLI.run(["run", cfg, "--workers", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("failed: "), r.stderr)
        XCTAssertTrue(r.stderr.contains("disk full") || r.stderr.contains("No space left"), r.stderr)
        XCTAssertTrue(r.stderr.contains("tasks failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("failures by cause: resource: "), r.stderr)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("xlsweep: error:") }
        XCTAssertEqual(lines.count, 1, r.stderr)
    }
}

final class DuplicateCheckpointTests: XCTestCase {
    /// Two checkpoints with identical weights (here: the same weights as .bin and .safetensors) are
    /// reported, and the merged file says which duplicates which.
    func testIdenticalWeightsAreFlagged() throws {
        let dir = try CLI.scratch(self)
        let f = CLI.fixtures
        let cfg = try sweepConfig(dir)
        var text = try String(contentsOfFile: cfg, encoding: .utf8)
        text = text.replacingOccurrences(of: "\(f)/bloom-tiny-bf16", with: "\(f)/bloom-tiny-bin")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try CLI.run(["run", cfg, "--workers", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: checkpoints step1, step3 hold identical weights"), r.stderr)
        let check = try CLI.python(["-c", """
            import sys, h5py
            f = h5py.File(sys.argv[1])
            print(list(f["duplicate_of"].asstr()[:]))
            """, dir + "/out/sweep.h5"])
        XCTAssertEqual(check.stdout, "['', '', 'step1']\n", check.stderr)
    }
}
