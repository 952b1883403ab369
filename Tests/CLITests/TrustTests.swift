import Foundation
import XCTest
import SweepRunner

/// What makes a sweep's file trustworthy on a new user's ground: config edits rerun exactly what
/// they affect, bad data fails before any worker starts, a node with other files refuses to work,
/// forged reports change nothing, and nothing hangs.
final class TrustTests: XCTestCase {
    func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    func assertSame(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try assertSameSweepDatasets(a, b, file: file, line: line)
    }

    /// `expertise.k 20 → 25` reruns the expertise, alignment and generation tasks (named, with their
    /// counts, by `plan`, `status` and `run`), reuses every extraction and probe, and gives the
    /// file a fresh run with k = 25 gives; settings that change no result redo nothing.
    func testConfigEditRerunsExactlyTheAffectedTasks() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir)
        let first = try CLI.run(["run", cfg])
        XCTAssertEqual(first.status, 0, first.stderr)
        var text = try String(contentsOfFile: cfg, encoding: .utf8)
        text = text.replacingOccurrences(of: "expertise: {k: 20,", with: "expertise: {k: 25,")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let reason = "expertise.k 20 → 25: 12 expertise, 3 alignment, 24 generate tasks will run again"
        let plan = try CLI.run(["plan", cfg])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("42 of 81 tasks already done") && plan.stdout.contains("rerun: " + reason), plan.stdout)
        let status = try CLI.run(["status", dir + "/out"])
        XCTAssertTrue(status.stdout.contains("rerun: " + reason), status.stdout)
        let second = try CLI.run(["run", cfg])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("81 tasks (42 already done)"), second.stderr)
        XCTAssertTrue(second.stderr.contains("coordinator: " + reason), second.stderr)
        var freshText = try String(contentsOfFile: try sweepConfig(dir, output: "fresh"), encoding: .utf8)
        freshText = freshText.replacingOccurrences(of: "expertise: {k: 20,", with: "expertise: {k: 25,")
        try freshText.write(toFile: dir + "/fresh.yaml", atomically: true, encoding: .utf8)
        let k25 = try CLI.run(["run", dir + "/fresh.yaml"])
        XCTAssertEqual(k25.status, 0, k25.stderr)
        try assertSame(dir + "/out/sweep.h5", dir + "/fresh/sweep.h5")
        // Workers, lease and attempts change no result: nothing runs again.
        text = text.replacingOccurrences(of: "workers: 2", with: "workers: 1").replacingOccurrences(of: "lease_seconds: 30", with: "lease_seconds: 40")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let third = try CLI.run(["run", cfg])
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stderr.contains("81 tasks (81 already done)"), third.stderr)
        // The lens's sample size reruns the lens alone; the control draws, the forced cells alone.
        for (edit, reason) in [("logit_lens: {tokens: 10}", "logit_lens.tokens 200 → 10: 12 lens tasks will run again"),
                               ("generation: {samples: 3, new_tokens: 6, controls: 2}",
                                "generation.controls 3 → 2: 24 generate tasks will run again")] {
            let edited = edit.hasPrefix("generation") ? text.replacingOccurrences(of: "generation: {samples: 3, new_tokens: 6, controls: 3}", with: edit)
                                                      : text + "\n" + edit + "\n"
            XCTAssertNotEqual(edited, text)
            try edited.write(toFile: cfg, atomically: true, encoding: .utf8)
            let plan = try CLI.run(["plan", cfg])
            XCTAssertTrue(plan.stdout.contains("rerun: " + reason), plan.stdout)
            XCTAssertEqual(plan.stdout.components(separatedBy: "rerun: ").count, 2, plan.stdout)
        }
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        // New data for one language: its extraction and everything downstream of it, named by file.
        let data = dir + "/data"
        try FileManager.default.copyItem(atPath: CLI.fixtures + "/sweep-data", toPath: data)
        text = text.replacingOccurrences(of: CLI.fixtures + "/sweep-data", with: data)
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        XCTAssertTrue(try CLI.run(["plan", cfg]).stdout.contains("81 of 81 tasks already done"), "a copy of the same data is the same data")
        let de = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/de.jsonl"))
        de.seekToEndOfFile()
        de.write(Data(#"{"text": "Und es geschah ein großes Erdbeben.", "split": "concept", "concepts": ["earthquake"]}"#.utf8 + [10]))
        try de.close()
        let edited = try CLI.run(["plan", cfg])
        XCTAssertTrue(edited.stdout.contains("rerun: data.de sha256:"), edited.stdout)
        XCTAssertTrue(edited.stdout.contains(": 3 extract, 12 probe, 3 expertise, 3 alignment, 3 lape, 24 generate, 3 unforced, 12 lens tasks will run again"), edited.stdout)
    }

    /// A language without its data file is one line before any worker starts, not a hang.
    func testMissingLanguageFileFailsBeforeAnyWorkerStarts() throws {
        let dir = try CLI.scratch(self)
        var text = try String(contentsOfFile: try sweepConfig(dir), encoding: .utf8)
        text = text.replacingOccurrences(of: "languages: [en, es, fr, de]", with: "languages: [en, es, xx, fr, de]")
        try text.write(toFile: dir + "/xx.yaml", atomically: true, encoding: .utf8)
        for command in [["run", dir + "/xx.yaml"], ["plan", dir + "/xx.yaml"],
                        ["coordinator", dir + "/xx.yaml", "--bind", "tcp://127.0.0.1:*"]] {
            let r = try CLI.run(command)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr, "xlsweep: error: \(CLI.fixtures)/sweep-data/xx.jsonl: missing: no sentences for language 'xx'\n")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/run.json"), "no coordinator started")
    }

    /// A coordinator with nothing to serve to says so and exits non-zero, keeping its fragments.
    func testCoordinatorWithoutWorkersGivesUp() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir, extra: "no_worker_timeout: 2")
        let started = Date()
        let r = try CLI.run(["coordinator", cfg, "--bind", "tcp://127.0.0.1:*"])
        XCTAssertEqual(r.status, 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        XCTAssertTrue(r.stderr.contains("xlsweep: error: no worker connected for 2 s (no_worker_timeout) with 81 of 81 tasks left"), r.stderr)
    }

    /// Workers that keep dying (killed here as they start) are replaced until the restart budget is
    /// spent; then `run` stops with an error instead of waiting forever with no worker.
    func testRunStopsWhenEveryWorkerIsGoneAndRestartsAreSpent() throws {
        let dir = try CLI.scratch(self)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: CLI.binary!)
        run.arguments = ["run", try sweepConfig(dir, samples: 200), "--workers", "1"]
        let err = Pipe()
        run.standardError = err
        run.standardOutput = FileHandle.nullDevice
        try run.run()
        let deadline = Date().addingTimeInterval(60)
        while run.isRunning && Date() < deadline {
            for w in children(of: run.processIdentifier) { kill(w, SIGKILL) }
            usleep(20_000)
        }
        XCTAssertFalse(run.isRunning, "run did not stop")
        if run.isRunning { run.terminate() }
        run.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(run.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.contains("xlsweep: error: every worker exited and 3 restarts are spent, with "), stderr)
        XCTAssertEqual(stderr.components(separatedBy: "starting another").count - 1, 3, stderr)
    }

    /// A worker whose node holds other data than the coordinator's refuses, saying which file
    /// differs; the coordinator logs it and `status` shows it.
    func testWorkerWithOtherFilesRefusesAndTheCoordinatorSaysWhy() throws {
        let dir = try CLI.scratch(self)
        let data = dir + "/data"
        try FileManager.default.copyItem(atPath: CLI.fixtures + "/sweep-data", toPath: data)
        let cfg = try sweepConfig(dir)
        try (try String(contentsOfFile: cfg, encoding: .utf8)).replacingOccurrences(of: CLI.fixtures + "/sweep-data", with: data)
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        let (coordinator, endpoint, log) = try startCoordinator(config: cfg, dir: dir)
        defer { if coordinator.isRunning { coordinator.terminate() } }
        // The data changes under the running coordinator (as if this node had another copy).
        let es = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/es.jsonl"))
        es.seekToEndOfFile()
        es.write(Data(#"{"text": "Hubo un gran terremoto.", "split": "concept", "concepts": ["earthquake"]}"#.utf8 + [10]))
        try es.close()
        let worker = try CLI.run(["worker", "--connect", endpoint])
        XCTAssertEqual(worker.status, 1)
        XCTAssertTrue(worker.stderr.contains("this node derives another plan than the coordinator's: data.es: sha256:"), worker.stderr)
        let status = try CLI.run(["status", dir + "/out"])
        XCTAssertTrue(status.stdout.contains("worker errors:") && status.stdout.contains("data.es"), status.stdout)
        XCTAssertTrue(status.stdout.contains("on \(ProcessInfo.processInfo.hostName): this node derives another plan"), status.stdout)
        coordinator.terminate()
        coordinator.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(text.contains("cannot work on this sweep: this node derives another plan") && text.contains("data.es"), text)
    }

    /// A fuzzer sends forged `done` and `failed` reports for every real task id (from peers that
    /// never held them), oversized frames and a hello with a 10 MB field, while two real workers
    /// run: the forgeries change nothing, no task is leased before its inputs exist, and the file
    /// equals an undisturbed run's.
    func testForgedReportsAreIgnoredWhileRealWorkersRun() throws {
        let dir = try CLI.scratch(self)
        let calm = try CLI.run(["run", try sweepConfig(dir, output: "calm", samples: 20), "--workers", "2"])
        XCTAssertEqual(calm.status, 0, calm.stderr)
        let cfg = try sweepConfig(dir, samples: 20)
        let ids = try ResolvedSweep(try SweepConfig(path: cfg)).plan.tasks.map(\.id)
        let (coordinator, endpoint, log) = try startCoordinator(config: cfg, dir: dir)
        defer { if coordinator.isRunning { coordinator.terminate() } }
        final class Flag: @unchecked Sendable { var stop = false; var sent = 0 }
        let flag = Flag()
        let fuzzer = Thread {
            var sockets: [ZMQSocket] = []
            for name in ["fuzz-forger", "fuzz-2", "fuzz-3"] {
                guard let s = try? ZMQSocket(.dealer) else { return }
                try? s.setIdentity(name)
                try? s.connect(endpoint)
                sockets.append(s)
            }
            let huge = Message(.hello, ["held": String(repeating: "x", count: 10 << 20)]).encode()
            let array = Array("XLSW".utf8) + [UInt8(Message.version), 0, 4] + withUnsafeBytes(of: UInt32(10 << 20).littleEndian, Array.init)
                + [UInt8](repeating: UInt8(ascii: "["), count: 10 << 20)
            while !flag.stop {
                for s in sockets {
                    for id in ids {
                        _ = try? s.send([Message(.failed, ["task": id, "error": "forged"]).encode()])
                        _ = try? s.send([Message(.done, ["task": id, "seconds": "1"]).encode()])
                        flag.sent += 2
                    }
                    _ = try? s.send([Message(.hello, ["held": "step1"]).encode()])
                }
                _ = try? sockets[0].send([huge])
                _ = try? sockets[1].send([array])
                usleep(20_000)
            }
        }
        fuzzer.start()
        var workers: [Process] = []
        for _ in 0..<2 {
            let w = Process()
            w.executableURL = URL(fileURLWithPath: CLI.binary!)
            w.arguments = ["worker", "--connect", endpoint]
            w.environment = ProcessInfo.processInfo.environment.merging(["XLSWEEP_THREADS": "1"]) { $1 }
            w.standardError = FileHandle.nullDevice
            w.standardOutput = FileHandle.nullDevice
            try w.run()
            workers.append(w)
        }
        let deadline = Date().addingTimeInterval(240)
        while coordinator.isRunning && Date() < deadline { usleep(100_000) }
        flag.stop = true
        for w in workers { w.waitUntilExit() }
        XCTAssertFalse(coordinator.isRunning, "the coordinator did not finish")
        coordinator.waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        XCTAssertGreaterThan(flag.sent, 10 * ids.count)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertFalse(text.contains("forged"), text)
        XCTAssertFalse(text.contains("no such file"), text)
        XCTAssertFalse(text.contains("failed on"), text)
        try assertSame(dir + "/calm/sweep.h5", dir + "/out/sweep.h5")
    }

    /// tools/oracle.py recomputes the merged science with numpy and scikit-learn from the extract
    /// fragments and the data set, and agrees with sweep.h5; a file with one value perturbed (a
    /// probe accuracy, an expert, a cross-language AP, a count of shared units, a control unit, a
    /// bootstrap bound, a logit-lens mass, a token's language, a lens accuracy) fails it, naming the dataset.
    func testIndependentOracleAgreesAndCatchesPerturbations() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 4)])
        XCTAssertEqual(run.status, 0, run.stderr)
        let oracle = try CLI.python([CLI.root + "/tools/oracle.py", dir + "/out"])
        XCTAssertEqual(oracle.status, 0, oracle.stdout + oracle.stderr)
        XCTAssertTrue(oracle.stdout.hasPrefix("oracle: ") && !oracle.stdout.contains("MISMATCH"), oracle.stdout)
        for (dataset, index, edit) in [("probe_accuracy", "1, 2, 0", "- 0.25"), ("cross_ap", "1, 0, 0, 2", "+ 0.01"),
                                       ("experts", "2, 0, 1, 3", "* 0 + f['experts'][2, 0, 1, 7]"),
                                       ("language_count_histogram", "1, 1, 1", "+ 1"),
                                       ("control_units", "1, 0, 2, 1, 3", "+ 1"),
                                       ("generation_share_interval", "0, 1, 2, 1, 0, 1", "+ 0.01"),
                                       ("logit_lens_mass", "1, 2, 3, 0", "+ 0.001"), ("token_language", "0, 40", "* 0 + 3"),
                                       ("logit_lens_accuracy", "2, 1, 1", "+ 0.025")] {
            let copy = dir + "/\(dataset).h5"
            try FileManager.default.copyItem(atPath: dir + "/out/sweep.h5", toPath: copy)
            let perturb = try CLI.python(["-c", "import h5py\nf = h5py.File('\(copy)', 'r+')\nf['\(dataset)'][\(index)] = f['\(dataset)'][\(index)] \(edit)\n"])
            XCTAssertEqual(perturb.status, 0, perturb.stderr)
            let caught = try CLI.python([CLI.root + "/tools/oracle.py", dir + "/out", "--sweep", copy])
            XCTAssertEqual(caught.status, 1, caught.stdout + caught.stderr)
            XCTAssertTrue(caught.stdout.contains("MISMATCH \(dataset) "), caught.stdout)
        }
    }

    /// The oracle agrees on a sweep over Llama checkpoints too (fp32- and bf16-stored weights of one
    /// shape). Past extraction the science does not depend on the architecture; the activations
    /// themselves are held to transformers by ParityTests for every architecture.
    func testIndependentOracleAgreesOnALlamaSweep() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, checkpoints: [("fp32", "llama-tiny"), ("bf16", "llama-tiny-bf16")])])
        XCTAssertEqual(run.status, 0, run.stderr)
        let oracle = try CLI.python([CLI.root + "/tools/oracle.py", dir + "/out"])
        XCTAssertEqual(oracle.status, 0, oracle.stdout + oracle.stderr)
        XCTAssertTrue(oracle.stdout.hasPrefix("oracle: ") && !oracle.stdout.contains("MISMATCH"), oracle.stdout)
    }

    /// Each fragment records when, where, in which attempt and with how much memory its task ran;
    /// sweep.h5 has them as `task_*` datasets on a `task` axis, and `status` sums time per kind.
    func testTimelineIsRecorded() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 2), "--workers", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let check = try CLI.python(["-c", """
            import sys, h5py, socket
            f = h5py.File(sys.argv[1])
            ids = list(f["task"].asstr()[:])
            assert len(ids) == 81 and len(set(ids)) == 81, ids
            assert set(f["task_kind"].asstr()[:]) == {"extract", "probe", "expertise", "alignment", "lape", "generate", "unforced", "lens"}
            assert (f["task_seconds"][:] >= 0).all() and (f["task_started"][:] > 1.7e9).all()
            assert set(f["task_host"].asstr()[:]) == {socket.gethostname()}, set(f["task_host"].asstr()[:])
            assert len(set(f["task_worker"].asstr()[:])) == 2, set(f["task_worker"].asstr()[:])
            assert (f["task_attempt"][:] >= 1).all() and (f["task_peak_rss_bytes"][:] > 1 << 20).all()
            assert f["task_seconds"].dims[0][0].name == "/task"
            print("ok")
            """, dir + "/out/sweep.h5"])
        XCTAssertEqual(check.stdout, "ok\n", check.stderr)
        let status = try CLI.run(["status", dir + "/out"])
        XCTAssertTrue(status.stdout.contains("  extract: 12/12, ") && status.stdout.contains(" s spent, 0 s left"), status.stdout)
    }

    /// SIGTERM, SIGINT or SIGHUP to a local `run` (what Slurm sends on preemption) stops its
    /// workers and keeps the fragments; after a SIGKILL of `run` its workers end too (they die
    /// with their parent) instead of running on, orphaned.
    func testWorkersNeverOutliveTheirRun() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir, samples: 400)
        func alive(_ pids: [Int32]) -> [Int32] { pids.filter { kill($0, 0) == 0 && !isZombie($0) } }
        func isZombie(_ pid: Int32) -> Bool {
            ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "").contains(") Z ")
        }
        for (signal, name) in [(SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP"), (SIGKILL, "SIGKILL")] {
            let run = Process()
            run.executableURL = URL(fileURLWithPath: CLI.binary!)
            run.arguments = ["run", cfg, "--workers", "2"]
            let err = Pipe()
            run.standardError = err
            run.standardOutput = FileHandle.nullDevice
            try run.run()
            var workers: [Int32] = []
            let deadline = Date().addingTimeInterval(30)
            while workers.count < 2 && Date() < deadline { usleep(50_000); workers = children(of: run.processIdentifier) }
            XCTAssertEqual(workers.count, 2, name)
            usleep(500_000)
            kill(run.processIdentifier, signal)
            run.waitUntilExit()
            // (Workers hold the stderr pipe: read it only once they are gone, or it waits for them.)
            let gone = Date().addingTimeInterval(10)
            while !alive(workers).isEmpty && Date() < gone { usleep(50_000) }
            XCTAssertEqual(alive(workers), [], "workers outlived the run after \(name)")
            for w in alive(workers) { kill(w, SIGKILL) }
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if signal != SIGKILL {
                XCTAssertEqual(run.terminationStatus, 1, stderr)
                XCTAssertTrue(stderr.contains("xlsweep: error: stopped by \(name) with "), stderr)
            }
        }
        // What finished is kept: a rerun resumes and completes.
        let resumed = try CLI.run(["run", cfg])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }
}

extension TrustTests {
    /// A remote worker (started by hand, not by `run`) whose coordinator disappears mid-task stops
    /// by itself once its heartbeats go unanswered for its patience, instead of running on.
    func testWorkerStopsWhenItsCoordinatorIsGone() throws {
        let dir = try CLI.scratch(self)
        let (coordinator, endpoint, _) = try startCoordinator(config: try sweepConfig(dir, samples: 2000), dir: dir)
        defer { if coordinator.isRunning { coordinator.terminate() } }
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: CLI.binary!)
        worker.arguments = ["worker", "--connect", endpoint, "--patience", "3"]
        let err = Pipe()
        worker.standardError = err
        worker.standardOutput = FileHandle.nullDevice
        try worker.run()
        // Into the long generation tasks (polled through `status`), then the coordinator dies.
        var status = try CLI.run(["status", dir + "/out"])
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline && !(status.stdout.contains(", running generate/") || status.stdout.contains(", running unforced/")) {
            usleep(200_000)
            status = try CLI.run(["status", dir + "/out"])
        }
        // `status` lists the worker: host, checkpoint in memory, current task.
        XCTAssertTrue(status.stdout.contains("workers:\n  ") && status.stdout.contains("on \(ProcessInfo.processInfo.hostName) (") && status.stdout.contains(" GiB): holds step")
                      && (status.stdout.contains(", running generate/") || status.stdout.contains(", running unforced/")), status.stdout)
        kill(coordinator.processIdentifier, SIGKILL)
        coordinator.waitUntilExit()
        let killed = Date()
        worker.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(killed), 20, "the worker ran on")
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(worker.terminationStatus, 1, stderr)
        XCTAssertTrue(stderr.contains("answered no heartbeat for 3 s") || stderr.contains("stopped answering for 3 s"), stderr)
    }
}

extension TrustTests {
    /// LAPE's language-specific neurons in sweep.h5 equal a numpy port of the reference selection
    /// run on the extract fragments' counts, and a perturbed file fails it.
    func testLanguageSpecificNeuronsMatchTheReferenceSelection() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 2)])
        XCTAssertEqual(run.status, 0, run.stderr)
        let reference = try CLI.python([CLI.root + "/tools/lape_reference.py", dir + "/out"])
        XCTAssertEqual(reference.status, 0, reference.stdout + reference.stderr)
        XCTAssertEqual(reference.stdout.split(separator: "\n").filter { $0.contains(": ok — language-specific units") }.count, 3, reference.stdout)
        let check = try CLI.python(["-c", """
            import sys, h5py, numpy as np
            f = h5py.File(sys.argv[1])
            s = f["language_specific"][:]
            assert s.shape == (3, 4, 576) and set(np.unique(s)) <= {0, 1} and s.sum() > 0, (s.shape, s.sum())
            per = f["language_specific_per_layer"][:]
            assert per.shape == (3, 4, 3) and (per.sum(axis=2) == s.sum(axis=2)).all()
            assert [d[0].name for d in f["language_specific"].dims] == ["/checkpoint", "/language", "/unit"]
            g = h5py.File(sys.argv[2], "r+")
            i = np.argwhere(s == 1)[0]
            g["language_specific"][tuple(i)] = 0
            print("ok")
            """, dir + "/out/sweep.h5", {
                try? FileManager.default.copyItem(atPath: dir + "/out/sweep.h5", toPath: dir + "/perturbed.h5")
                return dir + "/perturbed.h5"
            }()])
        XCTAssertEqual(check.stdout, "ok\n", check.stderr)
        let caught = try CLI.python([CLI.root + "/tools/lape_reference.py", dir + "/out", "--sweep", dir + "/perturbed.h5"])
        XCTAssertEqual(caught.status, 1, caught.stdout)
        XCTAssertTrue(caught.stdout.contains("MISMATCH language_specific"), caught.stdout)
    }
}

extension TrustTests {
    /// The activations are in sweep.h5, copied in (the default) or as virtual datasets over the
    /// fragments (`merge --virtual-activations`): README's xarray snippet runs on both, and a probe
    /// refitted from them with scikit-learn on the specified split gives `probe_accuracy` for a
    /// (checkpoint, layer).
    func testActivationsInSweepFileReadByXarrayRefitTheProbe() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 2)])
        XCTAssertEqual(run.status, 0, run.stderr)
        let readme = try String(contentsOfFile: CLI.root + "/README.md", encoding: .utf8)
        let snippet = readme.components(separatedBy: "<!-- xarray-snippet -->\n```python\n")[1].components(separatedBy: "```")[0]
        let refit = """
            import sys, warnings
            warnings.simplefilter("ignore")
            sys.path.insert(0, sys.argv[2])
            path, checkpoint = sys.argv[1], "step2"
            \(snippet)
            import numpy as np, h5py
            from oracle import stratified_split, task_seed, MASK
            from sklearn.linear_model import LogisticRegression
            from sklearn.preprocessing import StandardScaler
            langs = [str(l) for l in ds.language.values]
            x = np.concatenate([tokens[l] for l in langs]).astype(np.float64)
            y = np.concatenate([np.full(len(tokens[l]), i) for i, l in enumerate(langs)])
            test = stratified_split(y, 0.2, task_seed(0, f"probe/{checkpoint}/2") & MASK)
            train = np.setdiff1d(np.arange(len(y)), test)
            scaler = StandardScaler().fit(x[train])
            model = LogisticRegression(C=1.0, max_iter=200).fit(scaler.transform(x[train]), y[train])
            acc = float((model.predict(scaler.transform(x[test])) == y[test]).mean())
            want = float(ds.probe_accuracy.sel(checkpoint=checkpoint, layer=2).values[0])
            assert abs(acc - want) <= 2 / len(test), (acc, want)
            assert h5py.File(path)["probe_hidden"].is_virtual == (len(sys.argv) == 4)
            print("ok", acc)
            """
        let virtualMerge = try CLI.run(["merge", dir + "/out", "--virtual-activations"])
        XCTAssertEqual(virtualMerge.status, 0, virtualMerge.stderr)
        let virtual = try CLI.python(["-c", refit, dir + "/out/sweep.h5", CLI.root + "/tools", "virtual"])
        XCTAssertTrue(virtual.stdout.contains("ok "), virtual.stdout + virtual.stderr)
        let embed = try CLI.run(["merge", dir + "/out", "--embed-activations"])
        XCTAssertEqual(embed.status, 0, embed.stderr)
        try FileManager.default.moveItem(atPath: dir + "/out/fragments", toPath: dir + "/elsewhere")   // the file stands alone
        let embedded = try CLI.python(["-c", refit, dir + "/out/sweep.h5", CLI.root + "/tools"])
        XCTAssertTrue(embedded.stdout.contains("ok "), embedded.stdout + embedded.stderr)
    }
}

extension TrustTests {
    /// `activation_storage: float16` keeps the fragments' activations as IEEE halves (about half the
    /// disk); everything downstream reads the rounded values, so the oracle still agrees, and
    /// sweep.h5's virtual datasets read them as float32.
    func testFloat16ActivationStorage() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 2, extra: "activation_storage: float16")])
        XCTAssertEqual(run.status, 0, run.stderr)
        let oracle = try CLI.python([CLI.root + "/tools/oracle.py", dir + "/out"])
        XCTAssertEqual(oracle.status, 0, oracle.stdout + oracle.stderr)
        let check = try CLI.python(["-c", """
            import sys, h5py, numpy as np
            x = h5py.File(sys.argv[1] + "/fragments/extract+step1+en.h5")
            assert x["probe/hidden.1"].dtype == np.float16 and x["pooled/blocks.0.mlp_post"].dtype == np.float16
            f = h5py.File(sys.argv[1] + "/sweep.h5")
            n = x["probe/hidden.1"].shape[0]
            assert f["probe_hidden"].dtype == np.float32
            assert np.array_equal(f["probe_hidden"][0, 0, 1, :n], x["probe/hidden.1"][:].astype(np.float32))
            print("ok")
            """, dir + "/out"])
        XCTAssertEqual(check.stdout, "ok\n", check.stderr)
    }
}
