import ArgumentParser
import CKernelSupport
import Dispatch
import Foundation
import Logging
import Report
import Store
import SweepRunner

func stderrLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// This executable's path, for spawning workers.
func selfExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// A live progress line: tasks done/total, rate, ETA, failures (rewritten in place on a terminal).
struct ProgressLine {
    let started = Date()
    var lastPrinted = Date.distantPast
    var lastDone = -1
    let tty = isatty(2) == 1

    mutating func update(_ p: Coordinator.Progress, force: Bool = false) {
        let now = Date()
        guard force || (p.done != lastDone && (tty || now.timeIntervalSince(lastPrinted) > 5 || p.done == p.total)) else { return }
        lastDone = p.done
        lastPrinted = now
        let elapsed = now.timeIntervalSince(started)
        let rate = Double(p.done) / max(elapsed, 1e-3)
        let eta = rate > 0 ? Double(p.total - p.done) / rate : .infinity
        let line = String(format: "[%d/%d tasks] %.2f tasks/s, ETA %@, %d running, %d failed, %d workers",
                          p.done, p.total, rate, eta.isFinite ? "\(Int(eta)) s" : "?", p.running, p.failed, p.workers)
        FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a sweep on this machine: a coordinator and N worker processes, then merge into sweep.h5.")

    @Argument(help: "Sweep config (YAML).") var config: String
    @Option(help: "Worker processes (default: the config's workers).") var workers: Int?
    @Flag(help: "Validate the config, locate every checkpoint, print the plan, and stop.") var dryRun = false
    @Flag(help: "Merge even when tasks failed, recording the missing cells.") var allowPartial = false
    @Flag(help: "Read every weight file again and check it against its Hugging Face blob name, ignoring remembered digests.")
    var verify = false

    func run() throws {
        let sweep = try ResolvedSweep(try SweepConfig(path: config), verify: verify)
        if dryRun {
            printPlan(sweep, tasks: false)
            return
        }
        let n = workers ?? sweep.config.workers
        guard n > 0 else { throw UserError("--workers must be positive") }
        let coordinator = try runLocally(sweep, workers: n)
        let failed = coordinator.scheduler.failed
        if !failed.isEmpty {
            for (id, error) in failed.sorted(by: { $0.key < $1.key }) { stderrLine("failed: \(id): \(error)") }
            stderrLine("failures by cause: \(coordinator.failureCounts) (input: the task's checkpoint, data or config; "
                + "node: the machine; resource: memory or disk; bug: report it)")
            stderrLine("\(coordinator.scheduler.blocked.count) tasks could not run because of these failures")
            guard allowPartial else {
                throw UserError("\(failed.count) tasks failed; fragments kept in \(sweep.config.output)/fragments "
                    + "(rerun to retry them, or merge with --allow-partial)")
            }
        }
        let summary = try Merge.run(sweep, allowPartial: allowPartial, ledger: coordinator.ledger,
                                    toolVersion: "xlsweep \(XLSweep.version)")
        summary.warnings.forEach(stderrLine)
        print("wrote \(summary.path)" + (summary.missing.isEmpty ? "" : " (partial: \(summary.missing.count) tasks missing)"))
        let report = sweep.config.output + "/report.html"
        guard FileManager.default.createFile(atPath: report, contents: Data(try Report.render(sweep: summary.path).utf8)) else {
            throw UserError("\(report): cannot write")
        }
        print("wrote \(report)")
    }
}

/// A coordinator on loopback and `workers` worker processes of this executable, replacing workers
/// that die while work remains; returns when the plan is finished and the workers have exited.
func runLocally(_ sweep: ResolvedSweep, workers n: Int, quiet: Bool = false) throws -> Coordinator {
    // One node: cutting it off for failing would end the run (failed tasks are reported instead).
    let coordinator = try Coordinator(sweep: sweep, bind: "tcp://127.0.0.1:*", nodeCutoff: 0)
    if !quiet {
        stderrLine("sweep \(sweep.config.name): \(sweep.plan.tasks.count) tasks (\(coordinator.scheduler.done.count) already done), "
            + "\(n) workers, coordinator at \(coordinator.endpoint)")
    }
    var children: [Process] = []
    var respawns = 0
    let respawnBudget = 3 * n
    func spawn() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: selfExecutable())
        // A stopped local worker gives its task back at once (the run is ending it).
        p.arguments = ["worker", "--connect", coordinator.endpoint, "--grace", "1"]
        // The cores are shared out between the workers (kernels spread over more threads than
        // cores wait on each other at every barrier); results do not depend on the thread count.
        var environment = ProcessInfo.processInfo.environment
        environment["XLSWEEP_PARENT_PID"] = String(getpid())   // the worker dies with this process
        if environment["XLSWEEP_THREADS"] == nil {
            environment["XLSWEEP_THREADS"] = String(max(1, ProcessInfo.processInfo.activeProcessorCount / n))
        }
        p.environment = environment
        try p.run()
        children.append(p)
    }
    // SIGINT, SIGTERM (Slurm's preemption and time limit) and SIGHUP end the run and its workers;
    // the fragments stay for a resume. (A SIGKILL reaches the workers through their parent-death signal.)
    let stop = StopSignals([SIGINT, SIGTERM, SIGHUP])
    for _ in 0..<n { try spawn() }
    var progress = ProgressLine()
    do {
        try coordinator.serve { c in
            if let signal = stop.received {
                throw UserError("stopped by \(StopSignals.name(signal)) with \(c.plan.tasks.count - c.scheduler.done.count) of "
                    + "\(c.plan.tasks.count) tasks left; the workers were stopped and the fragments kept in "
                    + "\(c.config.output)/fragments (run again to resume)")
            }
            if !quiet { progress.update(c.progress) }
            // A worker that died while work remains is replaced (its lease expires and is reassigned),
            // as long as the restart budget lasts; with none left alive and none to start, stop.
            if !c.scheduler.finished {
                let dead = children.filter { !$0.isRunning }
                children.removeAll { !$0.isRunning }
                for p in dead {
                    if respawns < respawnBudget {
                        stderrLine("coordinator: worker \(p.processIdentifier) exited (status \(p.terminationStatus)); starting another")
                        respawns += 1
                        try? spawn()
                    }
                }
                if children.isEmpty {
                    let last = c.workerErrors.last.map { ": \($0.error)" } ?? " (see the workers' messages above)"
                    throw UserError("every worker exited and \(respawnBudget) restarts are spent, with "
                        + "\(c.plan.tasks.count - c.scheduler.done.count) of \(c.plan.tasks.count) tasks left; the last worker error\(last)")
                }
            }
        }
    } catch {
        for p in children where p.isRunning { p.terminate() }
        let deadline = Date().addingTimeInterval(5)
        while children.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for p in children where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        throw error
    }
    if !quiet {
        progress.update(coordinator.progress, force: true)
        if progress.tty { stderrLine("") }
    }
    let deadline = Date().addingTimeInterval(10)
    while children.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
    for p in children where p.isRunning { p.terminate() }
    return coordinator
}

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Serve a sweep's tasks to workers that connect over TCP (cluster mode), then merge.")

    @Argument(help: "Sweep config (YAML).") var config: String
    @Option(help: "ZeroMQ endpoint to bind, e.g. tcp://*:5555.") var bind: String
    @Option(help: "CURVE key file of the coordinator (from `xlsweep keys`): traffic is encrypted.") var key: String?
    @Option(help: "Public keys of the workers to accept: a .pub file, or a directory of them (needs --key).")
    var authorized: String?
    @Option(help: "Write the endpoint workers should connect to (wildcards replaced by this host's name) to this file.")
    var endpointFile: String?
    @Flag(help: "Merge even when tasks failed.") var allowPartial = false
    @Flag(help: "Read every weight file again and check it against its Hugging Face blob name before leasing any task.")
    var verify = false
    @Option(help: ArgumentHelp("Seconds the running tasks get to finish once the coordinator is stopped (SIGTERM, SIGINT, SIGHUP, SIGUSR1) before they are given back.",
                               discussion: "A stopped coordinator leases nothing more, waits for its workers' word, and exits with status \(CoordinatorCommand.stoppedStatus) (run it again, or requeue the job, to resume from the fragments)."))
    var grace: Double = 60

    /// The exit status of a coordinator that was stopped before the sweep finished (EX_TEMPFAIL):
    /// `sweep.sbatch` requeues the job on it.
    static let stoppedStatus: Int32 = 75

    func validate() throws {
        if (key == nil) != (authorized == nil) { throw ValidationError("--key and --authorized go together") }
        if !(grace >= 0 && grace <= 86_400) { throw ValidationError("--grace must be between 0 and 86400 seconds") }
    }

    func security() throws -> Coordinator.Security? {
        guard let key, let authorized else { return nil }
        guard let secret = try CurveKeys.read(key).secretKey else { throw UserError("\(key): no 'secret' line (a .pub file?)") }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: authorized, isDirectory: &isDirectory)
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: authorized).filter { $0.hasSuffix(".pub") }.sorted().map { authorized + "/" + $0 }
            : [authorized]
        let keys = Set(try files.map { try CurveKeys.read($0).publicKey })
        guard !keys.isEmpty else { throw UserError("\(authorized): no authorised worker keys") }
        return Coordinator.Security(secretKey: secret, authorized: keys)
    }

    func run() throws {
        let sweep = try ResolvedSweep(try SweepConfig(path: config), verify: verify)
        let coordinator = try Coordinator(sweep: sweep, bind: bind, security: try security())
        stderrLine("coordinator for \(sweep.config.name) at \(coordinator.endpoint): \(sweep.plan.tasks.count) tasks")
        if let endpointFile {
            let host = ProcessInfo.processInfo.hostName
            let reachable = coordinator.endpoint.replacingOccurrences(of: "0.0.0.0", with: host)
                .replacingOccurrences(of: "[::]", with: host)
            let staging = endpointFile + ".partial"
            try Data((reachable + "\n").utf8).write(to: URL(fileURLWithPath: staging))
            guard rename(staging, endpointFile) == 0 else { throw UserError("\(endpointFile): cannot write") }
        }
        var progress = ProgressLine()
        // Preemption, a requeue or a time limit (SIGTERM; SIGUSR1 from `--signal`): drain, keep the fragments, exit 75.
        let stop = StopSignals([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        try coordinator.serve(idleExit: 30) { c in
            if c.stopping == nil, let signal = stop.received { c.stop(reason: "\(StopSignals.name(signal))", grace: grace) }
            progress.update(c.progress)
        }
        if let stopping = coordinator.stopping {
            let p = coordinator.progress
            stderrLine("")
            let unheard = p.running == 0 ? "" : " (\(p.running) tasks unreported after the grace: their workers' leases lapse)"
            stderrLine("coordinator: stopped by \(stopping.reason) with \(p.total - p.done) of \(p.total) tasks left\(unheard); "
                + "the fragments stay in \(sweep.config.output)/fragments, and a rerun (or the requeued job) resumes from them")
            throw ExitCode(Self.stoppedStatus)
        }
        let failed = coordinator.scheduler.failed
        for (id, error) in failed.sorted(by: { $0.key < $1.key }) { stderrLine("failed: \(id): \(error)") }
        if !failed.isEmpty { stderrLine("failures by cause: \(coordinator.failureCounts)") }
        if !failed.isEmpty && !allowPartial { throw UserError("\(failed.count) tasks failed") }
        let summary = try Merge.run(sweep, allowPartial: allowPartial, ledger: coordinator.ledger,
                                    toolVersion: "xlsweep \(XLSweep.version)")
        summary.warnings.forEach(stderrLine)
        print("wrote \(summary.path)")
    }
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run tasks for a coordinator until it says the sweep is done.")

    @Option(help: "The coordinator's endpoint, e.g. tcp://host:5555.") var connect: String
    @Option(help: "Seconds to wait for the coordinator before giving up.") var patience: Double = 60
    @Option(help: "Seconds a stopped worker (SIGTERM, SIGINT, SIGHUP, SIGUSR1, or its coordinator draining) gives its task to finish before giving it back unfinished.")
    var grace: Double = 30
    @Option(help: "This worker's CURVE key file (from `xlsweep keys`).") var key: String?
    @Option(help: "The coordinator's public key file.") var serverKey: String?

    func validate() throws {
        if (key == nil) != (serverKey == nil) { throw ValidationError("--key and --server-key go together") }
        if !(grace >= 0 && grace <= 86_400) { throw ValidationError("--grace must be between 0 and 86400 seconds") }
        if !(patience > 0 && patience <= 864_000) { throw ValidationError("--patience must be between 0 and 864000 seconds") }
        if let text = ProcessInfo.processInfo.environment["XLSWEEP_MEMORY"], Worker.parseBytes(text) == nil {
            throw ValidationError("XLSWEEP_MEMORY='\(text)' is not a size (bytes, or a number with K, M, G or T)")
        }
    }

    func run() throws {
        let keys = try clientKeys(key: key, serverKey: serverKey)
        // A worker started by a local `run` ends when that process does, however it ends.
        if let parent = ProcessInfo.processInfo.environment["XLSWEEP_PARENT_PID"].flatMap(Int32.init),
           xl_die_with_parent(SIGTERM, parent) != 0 {
            throw UserError("the run that started this worker (pid \(parent)) is gone")
        }
        // Stopped (preemption, a requeue, a time limit, its run ending): it finishes or gives back its task, then exits 0.
        let stop = StopSignals([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        let worker = try Worker(connect: connect, keys: keys, patience: patience, grace: grace,
                                stopSignal: { stop.received }, logger: Logger(label: "worker \(getpid())"))
        try worker.run()
    }
}

/// A CURVE client's keys from `--key` (its own key file) and `--server-key` (the coordinator's public key).
func clientKeys(key: String?, serverKey: String?) throws -> Worker.Keys? {
    guard let key, let serverKey else { return nil }
    let mine = try CurveKeys.read(key)
    guard let secret = mine.secretKey else { throw UserError("\(key): no 'secret' line (a .pub file?)") }
    return Worker.Keys(publicKey: mine.publicKey, secretKey: secret, serverKey: try CurveKeys.read(serverKey).publicKey)
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge a sweep's fragments into DIR/sweep.h5 (verifying every checksum).")

    @Argument(help: "The sweep's output directory.") var directory: String
    @Flag(help: "Merge an incomplete grid, recording the missing cells in the file.") var allowPartial = false
    @Flag(help: "Copy the activations into sweep.h5, so the file stands alone (default: the config's embed_activations, true unless set).")
    var embedActivations = false
    @Flag(help: "Virtual datasets over fragments/ instead of a copy (no extra disk; the file then needs fragments/ beside it: check with `xlsweep verify`).")
    var virtualActivations = false

    func validate() throws {
        if embedActivations && virtualActivations { throw ValidationError("give --embed-activations or --virtual-activations, not both") }
    }

    func run() throws {
        let config = try RunRecord.read(directory: directory).config
        let summary = try Merge.run(try ResolvedSweep(config), allowPartial: allowPartial,
                                    embedActivations: embedActivations ? true : virtualActivations ? false : nil, toolVersion: "xlsweep \(XLSweep.version)")
        summary.warnings.forEach(stderrLine)
        print("wrote \(summary.path)" + (summary.missing.isEmpty ? "" : " (partial: \(summary.missing.count) tasks missing)"))
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Progress of a sweep: from its running coordinator, else from the files on disk.")

    @Argument(help: "The sweep's output directory.") var directory: String
    @Option(help: "A CURVE key file the coordinator accepts (a worker's), when it runs with --key.") var key: String?
    @Option(help: "The coordinator's public key file.") var serverKey: String?

    func validate() throws {
        if (key == nil) != (serverKey == nil) { throw ValidationError("--key and --server-key go together") }
    }

    func run() throws {
        let (config, bound, pid, host) = try RunRecord.read(directory: directory)
        // On the coordinator's node its pid tells whether it still runs; from another node
        // (a login node) it is asked at its node's address.
        let here = host == nil || host == Worker.nodeName()
        if let bound, let pid, !here || kill(pid_t(pid), 0) == 0 {
            let endpoint = here ? bound : bound.replacingOccurrences(of: "0.0.0.0", with: host!).replacingOccurrences(of: "[::]", with: host!)
            let socket = try ZMQSocket(.dealer)
            if let keys = try clientKeys(key: key, serverKey: serverKey) {
                try socket.makeCurveClient(publicKey: keys.publicKey, secretKey: keys.secretKey, serverKey: keys.serverKey)
            }
            try socket.connect(endpoint)
            try socket.send([Message(.status).encode()])
            if let frames = try socket.receive(timeout: 2000), frames.count == 1,
               let m = try? Message.decode(frames[0]), m.kind == .statusReply {
                let b = m.body
                print("running (coordinator pid \(pid) at \(endpoint)): \(b["done"] ?? "?")/\(b["total"] ?? "?") tasks done, "
                    + "\(b["running"] ?? "?") running, \(b["failed"] ?? "?") failed, \(b["workers"] ?? "?") workers")
                if let w = b["worker_list"], !w.isEmpty { print("workers:\n" + w.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
                if let f = b["failures"], !f.isEmpty { print(f) }
                if let f = b["failures_by_code"], !f.isEmpty { print("failures by cause: \(f)") }
                if let e = b["worker_errors"], !e.isEmpty { print("worker errors:\n" + e) }
                if let n = b["nodes_cut_off"], !n.isEmpty { print("nodes cut off:\n" + n) }
                if let s = b["stopping"], !s.isEmpty { print(s) }
                return
            }
            stderrLine("status: the coordinator at \(endpoint) did not answer within 2 s" + (key == nil ? " (if it runs with CURVE, pass --key and --server-key)" : "")
                + "; reading the fragments on disk")
        }
        // The config as it is now on disk, when it is still there: its edits are what a rerun acts on.
        let current = (try? SweepConfig(path: config.file)).flatMap { $0.output == config.output ? $0 : nil } ?? config
        let sweep = try ResolvedSweep(current)
        let ledger = Ledger(store: sweep.fragments, plan: sweep.plan, inputs: sweep.inputs)
        let total = sweep.plan.tasks.count
        let done = sweep.plan.tasks.filter { ledger.done.contains($0.id) }.count
        print("not running: \(done)/\(total) tasks done (from the fragments on disk, against \(current.file))")
        // Time spent per kind (from the fragments' records) and, at each kind's mean, time left.
        let records = TaskRecord.read(sweep.fragments, tasks: sweep.plan.tasks.filter { ledger.done.contains($0.id) })
        TaskRecord.summary(records, plan: sweep.plan, done: ledger.done).forEach { print($0) }
        for reason in ledger.rerunReasons(plan: sweep.plan) { print("rerun: \(reason)") }
        let failures = TaskFailure.read(directory: config.output).values.filter { !ledger.done.contains($0.task) }
        if !failures.isEmpty {
            print("failed in the last run (\(TaskFailure.counts(failures))):")
            failures.sorted { $0.task < $1.task }.prefix(50).forEach { print("  " + $0.line) }
        }
        if !ledger.broken.isEmpty { print("incomplete or corrupt fragments (will rerun): \(ledger.broken.joined(separator: ", "))") }
        if FileManager.default.fileExists(atPath: config.output + "/sweep.h5") { print("merged: \(config.output)/sweep.h5") }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair: NAME.key (public + secret, mode 0600) and NAME.pub (public only).")

    @Option(help: "Directory to write into.") var out: String = "."
    @Option(help: "Base name of the files, e.g. coordinator or worker-node17.") var name: String

    func run() throws {
        let (pub, sec) = try CurveKeys.generate()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let keyPath = out + "/" + name + ".key", pubPath = out + "/" + name + ".pub"
        guard FileManager.default.createFile(atPath: keyPath, contents: Data("public \(pub)\nsecret \(sec)\n".utf8),
                                            attributes: [.posixPermissions: 0o600]),
              FileManager.default.createFile(atPath: pubPath, contents: Data("public \(pub)\n".utf8)) else {
            throw UserError("\(out): cannot write key files")
        }
        print("wrote \(keyPath) (keep it secret) and \(pubPath)")
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a sweep.h5 reads what it was merged from: every fragment its virtual datasets read exists and matches its checksum.",
        discussion: """
            A sweep.h5 whose activations are copied in (the default) stands alone and passes. One merged with
            --virtual-activations reads fragments/ beside it; HDF5 gives fill values (NaN, -1) for a missing
            source without an error, so this names each missing or changed fragment. Exit status 1 when any is.
            """)

    @Argument(help: "A sweep.h5, or a sweep's output directory.") var path: String

    func run() throws {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue ? path + "/sweep.h5" : path
        guard FileManager.default.fileExists(atPath: file) else { throw UserError("\(file): no such file") }
        guard let sources = try VirtualSources.check(file) else {
            print("\(file): ok: its activations are stored in the file; it stands alone")
            return
        }
        let bad = sources.filter { $0.state != .intact }
        for s in bad {
            switch s.state {
            case .missing: print("missing: \(s.file)")
            case .changed(let actual): print("changed: \(s.file) (sha256 \(actual.prefix(16))…, merged from \(s.recorded.prefix(16))…)")
            case .intact: break
            }
        }
        guard bad.isEmpty else {
            throw UserError("\(file): \(bad.count) of \(sources.count) fragments its virtual datasets read are missing or changed "
                + "(HDF5 would read their cells as NaN / -1 fill values): keep the sweep's fragments/ beside it, or, where they are, "
                + "run `xlsweep merge DIR --embed-activations` for a file that stands alone")
        }
        print("\(file): ok: all \(sources.count) fragments its virtual datasets read are present and match their checksums")
    }
}
