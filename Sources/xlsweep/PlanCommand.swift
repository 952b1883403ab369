import ArgumentParser
import Foundation
import Sweep

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate a sweep config, locate every checkpoint offline, and print the task graph.")

    @Argument(help: "Sweep config (YAML).")
    var config: String

    @Flag(help: "List every task with its seed and dependencies.")
    var tasks = false

    func run() throws {
        try reportingErrors { printPlan(try ResolvedSweep(try SweepConfig(path: config)), tasks: tasks) }
    }
}

/// The resolved checkpoints and the task graph, as `plan` and `run --dry-run` print them.
func printPlan(_ sweep: ResolvedSweep, tasks: Bool) {
    let c = sweep.config
    var out = Output()
    out.line("sweep \(c.name): \(c.checkpoints.count) checkpoints × \(c.languages.count) languages "
        + "× \(sweep.concepts.count) concepts → \(c.output)")
    for ck in c.checkpoints {
        let m = sweep.modelConfigs[ck.name]!
        out.line("  \(ck.name): \(m.architecture.rawValue), \(m.nLayers) layers, d_model \(m.dModel) — "
            + "\(sweep.directories[ck.name]!)")
    }
    let counts = TaskKind.allCases.map { "\(sweep.plan.count($0)) \($0.rawValue)" }.joined(separator: ", ")
    out.line("\(sweep.plan.tasks.count) tasks: \(counts)")
    if tasks {
        for t in sweep.plan.tasks {
            let deps = sweep.plan.dependencies[t.id] ?? []
            out.line(String(format: "%@  seed %016llx  after %@", t.id, t.seed(sweepSeed: c.seed),
                            deps.isEmpty ? "-" : deps.joined(separator: ",")))
        }
    }
    out.flush()
}
