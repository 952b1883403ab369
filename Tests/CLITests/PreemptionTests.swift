import Foundation
import XCTest
import SweepRunner

/// What Slurm does to a sweep, with real processes: SIGTERM (preemption, `scontrol requeue`, the
/// time limit) or SIGUSR1 (the `--signal` warning) to the coordinator and to the workers.
final class PreemptionTests: XCTestCase {
    func startWorker(_ endpoint: String, grace: Double, log: String) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary!)
        p.arguments = ["worker", "--connect", endpoint, "--grace", String(grace), "--patience", "20"]
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func fragments(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/out/fragments")) ?? []).filter { $0.hasSuffix(".h5") }
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline { if condition() { return true }; usleep(50_000) }
        return condition()
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// `status` of the sweep in `dir` shows a generation running (one takes about a second here).
    func generationRunning(_ dir: String) -> Bool {
        ((try? CLI.run(["status", dir + "/out"]))?.stdout ?? "").contains("running generate/")
    }

    /// A stopped coordinator leases nothing more, tells its workers, takes their running tasks back
    /// (not counted as attempts), and exits 75; its workers exit 0; a rerun resumes from the
    /// fragments and gives the undisturbed run's sweep.h5. SIGTERM goes to every process (as Slurm
    /// sends it on preemption or a requeue); SIGUSR1 (the `--signal` warning) to the coordinator
    /// alone, whose workers learn it from the answers to their heartbeats.
    func testAStoppedCoordinatorDrainsExits75AndTheRerunResumes() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir, samples: 1000)
        for signal in [SIGTERM, SIGUSR1] {
            try? FileManager.default.removeItem(atPath: dir + "/out")
            let (coordinator, endpoint, log) = try startCoordinator(config: cfg, dir: dir, extra: ["--grace", "30"])
            defer { if coordinator.isRunning { coordinator.terminate() } }
            // Workers with no grace of their own: the running generations are given back.
            let workers = try (0..<2).map { try startWorker(endpoint, grace: 0, log: dir + "/worker\($0).log") }
            defer { for w in workers where w.isRunning { w.terminate() } }
            XCTAssertTrue(waitFor(120) { generationRunning(dir) }, "the sweep never reached its generations")
            kill(coordinator.processIdentifier, signal)
            if signal == SIGTERM { for w in workers { kill(w.processIdentifier, SIGTERM) } }
            XCTAssertTrue(waitFor(30) { !coordinator.isRunning }, "the coordinator did not exit")
            XCTAssertEqual(coordinator.terminationStatus, 75, text(log))
            let name = signal == SIGTERM ? "SIGTERM" : "SIGUSR1"
            XCTAssertTrue(text(log).contains("coordinator: stopped by \(name) with "), text(log))
            if signal == SIGTERM { XCTAssertTrue(text(log).contains("given back unfinished by"), text(log)) }
            for (i, w) in workers.enumerated() {
                XCTAssertTrue(waitFor(10) { !w.isRunning }, "worker \(i) did not exit")
                XCTAssertEqual(w.terminationStatus, 0, text(dir + "/worker\(i).log"))
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/sweep.h5"), "a stopped sweep is not merged")
            let left = fragments(dir).count
            let resumed = try CLI.run(["run", cfg])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertTrue(resumed.stderr.contains("(\(left) already done)"), resumed.stderr)
            let attempts = try CLI.python(["-c", "import sys, h5py; print(int(h5py.File(sys.argv[1])['task_attempt'][:].max()))",
                                           dir + "/out/sweep.h5"])
            XCTAssertEqual(attempts.stdout, "1\n", "a given-back task spent an attempt")
            try? FileManager.default.moveItem(atPath: dir + "/out", toPath: dir + "/stopped-\(signal)")
        }
        let undisturbed = try CLI.run(["run", cfg])
        XCTAssertEqual(undisturbed.status, 0, undisturbed.stderr)
        for signal in [SIGTERM, SIGUSR1] { try assertSameSweepDatasets(dir + "/out/sweep.h5", dir + "/stopped-\(signal)/sweep.h5") }
    }

    /// A worker stopped mid-task (its node preempted) gives the task back at once and exits 0; the
    /// coordinator leases the task to another worker then, not when the lease would expire.
    func testAStoppedWorkerGivesItsTaskBackAndAnotherTakesIt() throws {
        let dir = try CLI.scratch(self)
        let cfg = try sweepConfig(dir, samples: 3000, lease: 600, controls: 0)
        let (coordinator, endpoint, log) = try startCoordinator(config: cfg, dir: dir)
        defer { if coordinator.isRunning { coordinator.terminate() } }
        // Stopped mid-generation (a stop that lands between two tasks gives nothing back: try again).
        var given: String?
        for round in 0..<4 where given == nil {
            let first = try startWorker(endpoint, grace: 0, log: dir + "/first\(round).log")
            defer { if first.isRunning { first.terminate() } }
            XCTAssertTrue(waitFor(120) { generationRunning(dir) }, "the sweep never reached its generations")
            kill(first.processIdentifier, SIGTERM)
            XCTAssertTrue(waitFor(10) { !first.isRunning }, "the stopped worker did not exit")
            XCTAssertEqual(first.terminationStatus, 0, text(dir + "/first\(round).log"))
            XCTAssertTrue(text(dir + "/first\(round).log").contains("stopping (stopped by SIGTERM)"), text(dir + "/first\(round).log"))
            usleep(300_000)
            given = text(log).split(separator: "\n").first { $0.contains("given back unfinished by") }
                .flatMap { $0.split(separator: " ").drop { $0 != "task" }.dropFirst().first }.map(String.init)
        }
        let task = try XCTUnwrap(given, "no stopped worker gave its task back: \(text(log))")
        XCTAssertTrue(text(log).contains("(stopped by SIGTERM); queued again, the attempt not counted"), text(log))
        // With a 600 s lease, only a give-back lets another worker take the task now: it is the first it gets.
        let second = try startWorker(endpoint, grace: 30, log: dir + "/second.log")
        defer { if second.isRunning { second.terminate() } }
        XCTAssertTrue(waitFor(30) { ((try? CLI.run(["status", dir + "/out"]))?.stdout ?? "").contains("running \(task)") },
                      "\(task) was not leased again")
        XCTAssertFalse(text(log).contains("expired"), text(log))
    }
}
