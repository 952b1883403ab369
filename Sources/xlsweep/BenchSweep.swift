import ArgumentParser
import Dispatch
import Foundation
import Logging
import Sweep

struct BenchSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Dispatch overhead (no-op tasks per second through the coordinator) and worker utilisation.",
        discussion: """
            Dispatch: a coordinator on loopback serves a plan of no-op tasks to --clients threads of this
            process, each a ZeroMQ DEALER doing request → task → done; tasks/s is the coordinator's rate.
            Utilisation: a small real sweep (configs/tiny.yaml, or --config; written to a scratch directory)
            with --workers worker processes; utilisation = Σ task seconds / (workers × wall time).
            """)

    @Option(help: "No-op tasks to dispatch (about twice --tasks: extraction and expertise per language).")
    var tasks = 5_000
    @Option(help: "Dispatch client threads.") var clients = 2
    @Option(help: "Config of the real sweep (default: the tiny fixture sweep).") var config: String?
    @Option(help: "Worker processes for the real sweep.") var workers = 2

    func run() throws {
        try reportingErrors {
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
            let endpoint = coordinator.endpoint
            let group = DispatchGroup()
            for _ in 0..<clients {
                Thread {
                    group.enter()
                    defer { group.leave() }
                    guard let socket = try? ZMQSocket(.dealer), (try? socket.connect(endpoint)) != nil else { return }
                    while true {
                        guard (try? socket.send([Message(.request).encode()])) != nil,
                              let frames = try? socket.receive(timeout: 5000), let f = frames.first,
                              let m = try? Message.decode(f) else { return }
                        switch m.kind {
                        case .task: _ = try? socket.send([Message(.done, ["task": m.body["task"] ?? "", "seconds": "0"]).encode()])
                        case .wait: usleep(100)
                        default:
                            _ = try? socket.send([Message(.bye).encode()])
                            return
                        }
                    }
                }.start()
            }
            let t0 = DispatchTime.now()
            try coordinator.serve(idleExit: 1)
            let dispatchSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
            group.wait()
            print("xlsweep bench sweep")
            print(String(format: "dispatch: %d no-op tasks through the coordinator with %d clients in %.2f s: %.0f tasks/s (%.0f µs per task)",
                         plan.tasks.count, clients, dispatchSeconds, Double(plan.tasks.count) / dispatchSeconds,
                         dispatchSeconds / Double(plan.tasks.count) * 1e6))

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
}
