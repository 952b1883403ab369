import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Models
import Store
import SweepRunner
import Tokenization

struct BenchPaper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paper",
        abstract: "The paper's sweep at BLOOM-560m scale, built from nothing and run; every figure against the FMA peak.",
        discussion: """
            tools/make_paper_case.py writes random-weight BLOOM-560m-shaped fp16 checkpoints with Gemma 3's
            262,144-token vocabulary into a Hugging Face cache laid out as bigscience/bloom-560m-intermediate
            (one ref per --checkpoints), and configs/bloom-560m.yaml narrowed to them and --languages over
            data/demo. The sweep then runs from scratch (`xlsweep run --workers N`, HF_HOME pointing at the
            case). Printed: per task kind the tasks, seconds, model FLOPs (from the architecture's weight
            table: every sentence's forward in extraction; the prompt and every decoding step of every sample
            in generation), GFLOP/s and its share of the peak of the threads a worker has; for the whole
            sweep the wall time, Σ FLOPs / peak of all threads (the floor), wall / floor, the bytes of the
            fragments and each worker's peak memory against the weights in their compute precision.
            Needs the torch stack (tools/setup.sh --torch), Gemma 3's tokenizer (tools/fetch_gemma.py) and
            data/demo (tools/build_data.py).
            """)

    @Option(help: "Where the case (HF cache, config) and the sweep's output go.") var dir = "out/bench-paper"
    @Option(help: "Revisions of bigscience/bloom-560m-intermediate to make (comma list).") var checkpoints = "global_step1000"
    @Option(help: "Languages of the sweep (comma list).") var languages = "en,es,zh,hi"
    @Option(help: "Worker processes.") var workers = 2
    @Flag(help: "Keep earlier results (resume) instead of running the sweep from scratch.") var resume = false

    func validate() throws {
        guard workers > 0 else { throw ValidationError("--workers must be positive") }
        guard !checkpoints.isEmpty, !languages.isEmpty else { throw ValidationError("--checkpoints and --languages need at least one entry") }
    }

    func run() throws {
        guard let tools = toolsDirectory() else { throw UserError("tools/ not found (set XLSWEEP_ROOT)") }
        let directory = URL(fileURLWithPath: dir).standardizedFileURL.path
        let made = try runChild(["/usr/bin/env", "python3", tools + "/make_paper_case.py", "--out", directory,
                                 "--checkpoints", checkpoints, "--languages", languages, "--workers", "\(workers)"],
                                environment: [:], capture: true)
        guard let config = made.split(separator: "\n").last.map(String.init), config.hasSuffix(".yaml") else {
            throw UserError("make_paper_case.py printed no config path")
        }
        let output = directory + "/out"
        if !resume { try? FileManager.default.removeItem(atPath: output) }
        let environment = ["HF_HOME": directory + "/hf"]
        let before = PeakRates.measure()
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try runChild(["/proc/self/exe", "run", config, "--workers", "\(workers)"], environment: environment, capture: false)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        // Measured before and after the sweep, the higher of each: on a shared host one slow moment
        // would otherwise lower the peak and flatter every share (seen: 200.6 before, 233.2 after).
        let after = PeakRates.measure()
        let peak = before.higher(after)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let sweepConfig = try SweepConfig(path: config, environment: env)
        let sweep = try ResolvedSweep(sweepConfig, environment: env)
        let report = try PaperReport(sweep: sweep, output: output, wall: wall, peak: peak, workers: workers)
        report.print()
    }

    /// Runs a child to its end; its output is returned (`capture`) or shown; a failure is an error.
    func runChild(_ arguments: [String], environment: [String: String], capture: Bool) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let pipe = Pipe()
        if capture { process.standardOutput = pipe }
        try process.run()
        let text = capture ? String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw UserError("\(arguments.prefix(3).joined(separator: " ")) exited with status \(process.terminationStatus)")
        }
        return text
    }
}

/// What a finished paper-scale sweep cost: per task kind and whole, against the FMA peak.
struct PaperReport {
    struct Kind {
        var tasks = 0
        var seconds = 0.0
        var flops = 0.0
    }

    var kinds: [(String, Kind)] = []
    let wall: Double
    let peak: PeakRates
    let workers: Int
    let threadsPerWorker: Int
    let fragmentBytes: Int64
    var workerPeakRSS: [String: Int64] = [:]
    let weightBytes: Int
    let precision: String
    let host = CPUName.current

    init(sweep: ResolvedSweep, output: String, wall: Double, peak: PeakRates, workers: Int) throws {
        self.wall = wall
        self.peak = peak
        self.workers = workers
        threadsPerWorker = max(1, ProcessInfo.processInfo.activeProcessorCount / workers)
        let file = try HDF5Reader(path: output + "/sweep.h5")
        let ids = try file.strings("task")
        let seconds = try file.doubles("task_seconds").values
        let rss = try file.ints("task_peak_rss_bytes").values
        let worker = try file.strings("task_worker")
        let flops = try Self.modelFLOPs(sweep)
        var byKind: [String: Kind] = [:]
        for (i, id) in ids.enumerated() {
            let kind = String(id.split(separator: "/").first ?? "")
            byKind[kind, default: Kind()].tasks += 1
            byKind[kind, default: Kind()].seconds += seconds[i]
            byKind[kind, default: Kind()].flops += flops[id] ?? 0
            workerPeakRSS[worker[i]] = max(workerPeakRSS[worker[i]] ?? 0, rss[i])
        }
        let order = ["extract", "lens", "probe", "expertise", "alignment", "lape", "generate", "unforced"]
        kinds = byKind.sorted { (order.firstIndex(of: $0.key) ?? 99, $0.key) < (order.firstIndex(of: $1.key) ?? 99, $1.key) }
        fragmentBytes = Self.bytes(under: output + "/fragments")
        let configs = Array(sweep.modelConfigs.values)
        precision = (try? file.strings("checkpoint_precision"))?.joined(separator: ",") ?? "?"
        let perParameter = precision.contains("bf16") ? 2 : 4
        weightBytes = configs.map { WeightTable.of($0).parameterCount * perParameter }.max() ?? 0
    }

    /// Model FLOPs of every extract, lens and generate task of the plan, by task id.
    static func modelFLOPs(_ sweep: ResolvedSweep) throws -> [String: Double] {
        var out: [String: Double] = [:]
        var tokenizers: [String: Tokenizer] = [:]
        let g = sweep.config.generation
        for task in sweep.plan.tasks {
            guard let model = sweep.modelConfigs[task.checkpoint] else { continue }
            let count = FLOPCount(model)
            switch task.kind {
            case .extract:
                let path = sweep.tokenizers[task.checkpoint] ?? (sweep.directories[task.checkpoint]! + "/tokenizer.json")
                if tokenizers[path] == nil { tokenizers[path] = try Tokenizer(path: path) }
                let tokenizer = tokenizers[path]!
                let lang = task.language!
                let texts = (sweep.data.probe[lang] ?? []) + (sweep.data.pool[lang] ?? []).map(\.text)
                out[task.id] = texts.reduce(0.0) { $0 + count.sequence(tokens: tokenizer.encode($1).count) }
            case .generate:
                // The experts' run and each control draw's.
                out[task.id] = Double(1 + g.controls) * count.generation(samples: g.samples, prompt: 1, newTokens: g.newTokens)
            case .unforced:
                out[task.id] = count.generation(samples: g.samples, prompt: 1, newTokens: g.newTokens)
            case .lens:
                // Every layer's hidden state of each lens token through the head (the norms are noise).
                let tokens = min(sweep.config.logitLens.tokens, sweep.config.probe.tokensPerLanguage)
                out[task.id] = 2 * Double(count.headMACs) * Double(tokens * (model.nLayers + 1))
            default:
                continue
            }
        }
        return out
    }

    static func bytes(under path: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let name = walker.nextObject() as? String {
            if let size = (try? FileManager.default.attributesOfItem(atPath: path + "/" + name))?[.size] as? NSNumber { total += size.int64Value }
        }
        return total
    }

    func print() {
        let all = peak.fp32
        let perWorker = all * Double(threadsPerWorker) / Double(peak.threads)
        Swift.print("xlsweep bench paper: \(host); \(workers) workers × \(threadsPerWorker) threads; weights \(precision); "
            + String(format: "peak of fp32 products %.1f GFLOP/s on %d threads (bench peak, before and after the sweep, the higher)", all, peak.threads))
        Swift.print("kind".padding(toLength: 12, withPad: " ", startingAt: 0) + "tasks".leftPad(7) + "seconds".leftPad(10)
            + "TFLOP".leftPad(9) + "GFLOP/s".leftPad(10) + "% of peak".leftPad(11))
        var totalFLOPs = 0.0
        for (name, k) in kinds {
            totalFLOPs += k.flops
            let rate = k.flops > 0 ? k.flops / k.seconds / 1e9 : nil
            Swift.print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + "\(k.tasks)".leftPad(7)
                + String(format: "%.1f", k.seconds).leftPad(10) + (k.flops > 0 ? String(format: "%.2f", k.flops / 1e12) : "–").leftPad(9)
                + (rate.map { String(format: "%.1f", $0) } ?? "–").leftPad(10)
                + (rate.map { "\(Int((100 * $0 / perWorker).rounded()))%" } ?? "–").leftPad(11))
        }
        let floor = totalFLOPs / (all * 1e9)
        Swift.print(String(format: "whole sweep: wall %.1f s; Σ model FLOPs %.2f TFLOP; floor (Σ FLOPs / peak) %.1f s; wall / floor %.2f",
                           wall, totalFLOPs / 1e12, floor, wall / floor))
        Swift.print(String(format: "fragments %.1f MB; weights in compute precision %.2f GB", Double(fragmentBytes) / 1e6, Double(weightBytes) / 1e9))
        for (worker, bytes) in workerPeakRSS.sorted(by: { $0.key < $1.key }) {
            Swift.print(String(format: "  worker %@: peak RSS %.2f GB = %.2f× the weights", worker, Double(bytes) / 1e9,
                               Double(bytes) / Double(max(1, weightBytes))))
        }
    }
}
