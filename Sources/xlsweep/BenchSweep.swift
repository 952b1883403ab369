import ArgumentParser
import Dispatch
import Foundation
import Logging
import SweepRunner

struct BenchSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Dispatch overhead (no-op tasks per second through the coordinator) and worker utilisation.",
        discussion: """
            Dispatch: a coordinator on loopback serves a plan of no-op tasks to --clients simulated workers
            (each a ZeroMQ DEALER socket doing request → task → done, served by --client-threads threads);
            tasks/s is the coordinator's rate, with the request → task round trip's p50 and p99. Then
            --clients idle workers heartbeat once a second and the coordinator thread's CPU share is measured.
            Utilisation: a small real sweep (configs/tiny.yaml, or --config; written to a scratch directory)
            with --workers worker processes; utilisation = Σ task seconds / (workers × wall time).
            """)

    @Option(help: "No-op tasks to dispatch (about twice --tasks: extraction and expertise per language).")
    var tasks = 5_000
    @Option(help: "Simulated workers (each its own DEALER socket) for dispatch.") var clients = 1000
    @Option(help: "Threads the simulated workers share.") var clientThreads = 4
    @Option(help: "Seconds of idle heartbeats to measure (0: skip).") var heartbeatSeconds = 5.0
    @Option(help: "Fragments for the ledger rebuild benchmark (0: skip; written to the scratch directory, e.g. under /dev/shm with TMPDIR).")
    var ledgerFragments = 0
    @Option(help: "Config of the real sweep (default: the tiny fixture sweep).") var config: String?
    @Option(help: "Worker processes for the real sweep.") var workers = 2

    func run() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-bench-sweep-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)

        // Dispatch overhead.
        let languages = (0..<tasks).map { "l\($0)" }
        let text = "output: \(scratch)/noop\ndata: \(scratch)\nlanguages: [\(languages.joined(separator: ", "))]\n"
            + "checkpoints: [{name: c, path: \(scratch)}]\nexpertise: {concepts: [x]}\n"
        let noopConfig = try SweepConfig(text: text, file: scratch + "/noop.yaml")
        let plan = Plan(checkpoints: ["c"], languages: languages, layers: ["c": 0], concepts: ["x"], generation: false)
        let inputs = PlanInputs(plan: plan, config: noopConfig, concepts: ["x"],
                                fingerprints: SweepFingerprints(data: [:], lexicon: "none", checkpoints: [:]))
        var quiet = Logger(label: "coordinator")
        quiet.logLevel = .critical
        let coordinator = try Coordinator(config: noopConfig, plan: plan, inputs: inputs, done: [], components: "{}",
                                          bind: "tcp://127.0.0.1:*", logger: quiet) { _ in true }
        let simulated = try SimulatedWorkers(count: clients, threads: clientThreads, endpoint: coordinator.endpoint)
        let t0 = DispatchTime.now()
        let cpu0 = threadCPUSeconds()
        let group = simulated.dispatch(deadline: simulated.now() + 600)
        try coordinator.serve(idleExit: 1)
        let dispatchSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        let coordinatorCPU = threadCPUSeconds() - cpu0
        simulated.stop()
        group.wait()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print("xlsweep bench sweep")
        print(String(format: "dispatch: %d no-op tasks to %d simulated workers (%d client threads, real loopback sockets) in %.2f s: "
                     + "%.0f tasks/s (%.0f µs per task; coordinator thread %.2f s CPU)",
                     plan.tasks.count, clients, clientThreads, dispatchSeconds, Double(plan.tasks.count) / dispatchSeconds,
                     dispatchSeconds / Double(plan.tasks.count) * 1e6, coordinatorCPU))
        print(String(format: "  request → task round trip: p50 %.2f ms, p99 %.2f ms (%d leases); peak memory of this process "
                     + "(coordinator + simulated workers) %.0f MB", simulated.quantile(0.5) * 1e3, simulated.quantile(0.99) * 1e3,
                     simulated.completed, Double(usage.ru_maxrss) / 1024))
        // The same plan over the in-memory channel: the coordinator without sockets.
        do {
            let channel = InMemoryChannel()
            let memory = Coordinator(config: noopConfig, plan: plan, inputs: inputs, done: [], components: "{}",
                                     channel: channel, logger: quiet) { _ in true }
            let simulated = InMemoryWorkers(count: clients, channel: channel)
            let t0 = DispatchTime.now()
            let cpu0 = threadCPUSeconds()
            let group = simulated.dispatch(deadline: simulated.now() + 600)
            try memory.serve(idleExit: 1)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
            let cpu = threadCPUSeconds() - cpu0
            simulated.stop()
            group.wait()
            print(String(format: "dispatch in memory (InMemoryChannel, one client thread): %d tasks to %d simulated workers in %.2f s: "
                         + "%.0f tasks/s (coordinator thread %.2f s CPU); round trip p50 %.3f ms, p99 %.3f ms",
                         plan.tasks.count, clients, seconds, Double(plan.tasks.count) / seconds, cpu,
                         simulated.quantile(0.5) * 1e3, simulated.quantile(0.99) * 1e3))
            if memory.progress.done != plan.tasks.count {
                throw UserError("in memory, \(memory.progress.done) of \(plan.tasks.count) no-op tasks were done")
            }
        }
        if heartbeatSeconds > 0 {
            // Idle workers: every one heartbeats once a second; what does answering them cost the coordinator?
            let idlePlan = Plan(checkpoints: ["c"], languages: ["l0"], layers: ["c": 0], concepts: ["x"], generation: false)
            let idleConfig = try SweepConfig(text: "output: \(scratch)/idle\ndata: \(scratch)\nlanguages: [l0]\n"
                + "checkpoints: [{name: c, path: \(scratch)}]\nexpertise: {concepts: [x]}\n", file: scratch + "/idle.yaml")
            let idleInputs = PlanInputs(plan: idlePlan, config: idleConfig, concepts: ["x"],
                                        fingerprints: SweepFingerprints(data: [:], lexicon: "none", checkpoints: [:]))
            let idle = try Coordinator(config: idleConfig, plan: idlePlan, inputs: idleInputs, done: [], components: "{}",
                                       bind: "tcp://127.0.0.1:*", logger: quiet) { _ in true }
            let beaters = try SimulatedWorkers(count: clients, threads: clientThreads, endpoint: idle.endpoint)
            let beating = beaters.heartbeat(seconds: heartbeatSeconds + 1)
            usleep(500_000)
            let start = beaters.now(), cpuStart = threadCPUSeconds()
            try? idle.serve(idleExit: 1) { _ in if beaters.now() - start > heartbeatSeconds { throw CancellationError() } }
            let busy = threadCPUSeconds() - cpuStart, wall = beaters.now() - start
            beating.wait()
            print(String(format: "  %d idle workers heartbeating once a second: the coordinator used %.1f%% of a core over %.1f s",
                         clients, 100 * busy / wall, wall))
        }

        if ledgerFragments > 0 { try Self.ledger(fragments: ledgerFragments, scratch: scratch) }

        // Utilisation on a real sweep.
        var sweepConfig: SweepConfig
        if let config {
            sweepConfig = try SweepConfig(path: config)
        } else {
            guard let tools = toolsDirectory() else { throw UserError("tools/ not found (set XLSWEEP_ROOT) and no --config given") }
            sweepConfig = try SweepConfig(path: URL(fileURLWithPath: tools).deletingLastPathComponent().path + "/configs/tiny.yaml")
        }
        sweepConfig = try sweepConfig.writing(to: scratch + "/sweep")   // never touch the config's own output
        let sweep = try ResolvedSweep(sweepConfig)
        let t1 = DispatchTime.now()
        let run = try runLocally(sweep, workers: workers, quiet: true)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t1.uptimeNanoseconds) / 1e9
        let failed = run.scheduler.failed.count
        print(String(format: "real sweep: %d tasks (%d failed), %d workers, %.2f s wall, %.2f s of task work: utilisation %.0f%%",
                     sweep.plan.tasks.count, failed, workers, wall, run.busySeconds, 100 * run.busySeconds / (Double(workers) * wall)))
        if failed > 0 {
            throw UserError("the real sweep had \(failed) failed tasks (its utilisation means nothing): "
                + run.scheduler.failed.sorted { $0.key < $1.key }.prefix(3).map { "\($0.key): \($0.value)" }.joined(separator: "; "))
        }
    }
}

extension BenchSweep {
    /// The ledger of `count` fragments (a no-op plan's extract and expertise tasks, each a real
    /// fragment bound to its inputs) rebuilt from nothing, then from the stamps it remembered.
    static func ledger(fragments count: Int, scratch: String) throws {
        let languages = (0..<max(1, count / 2)).map { "l\($0)" }
        let dir = scratch + "/ledger"
        let text = "output: \(dir)\ndata: \(scratch)\nlanguages: [\(languages.joined(separator: ", "))]\n"
            + "checkpoints: [{name: c, path: \(scratch)}]\nexpertise: {concepts: [x]}\n"
        let config = try SweepConfig(text: text, file: scratch + "/ledger.yaml")
        let plan = Plan(checkpoints: ["c"], languages: languages, layers: ["c": 0], concepts: ["x"], generation: false)
        let inputs = PlanInputs(plan: plan, config: config, concepts: ["x"],
                                fingerprints: SweepFingerprints(data: [:], lexicon: "none", checkpoints: [:]))
        let store = FragmentStore(directory: dir + "/fragments")
        let t0 = DispatchTime.now()
        for task in plan.tasks {
            try store.write(task.id, inputs: inputs.inputs[task.id]!, read: plan.dependencies[task.id] ?? []) { w in
                try w.write("value", ints: [1], shape: [1])
            }
        }
        let made = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        try? FileManager.default.removeItem(atPath: store.directory + "/.ledger")
        func rebuild() -> (Ledger, Double) {
            let t = DispatchTime.now()
            let l = Ledger(store: store, plan: plan, inputs: inputs)
            return (l, Double(DispatchTime.now().uptimeNanoseconds - t.uptimeNanoseconds) / 1e9)
        }
        let (cold, coldSeconds) = rebuild()
        let (warm, warmSeconds) = rebuild()
        print(String(format: "ledger: %d fragments (written in %.1f s); rebuilt reading every one in %.2f s (%d read, %d done), "
                     + "from their remembered stamps in %.2f s (%d read, %d done)",
                     plan.tasks.count, made, coldSeconds, cold.read, cold.done.count, warmSeconds, warm.read, warm.done.count))
    }
}
