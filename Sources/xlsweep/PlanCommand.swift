import ArgumentParser
import Foundation
import SweepRunner

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate a sweep config, locate every checkpoint offline, and print the task graph.")

    @Argument(help: "Sweep config (YAML).")
    var config: String

    @Flag(help: "List every task with its seed and dependencies.")
    var tasks = false

    @Flag(help: """
        Audit every checkpoint before any compute, reading every weight file again: each file an index names         exists, each header reads, and in a Hugging Face cache each weight file's SHA-256 equals its blob's name.         (Without it the same checks use the digests remembered under unchanged file stamps.)
        """)
    var verify = false

    func run() throws {
        let sweep = try ResolvedSweep(try SweepConfig(path: config), verify: verify)
        printPlan(sweep, tasks: tasks)
        if verify {
            let blobs = sweep.config.checkpoints.reduce(0) { $0 + CheckpointAudit.blobFiles(directory: sweep.directories[$1.name]!).count }
            print("verified: \(sweep.config.checkpoints.count) checkpoints sound (every indexed file present, every header read, "
                + "\(blobs) weight files hash to their blob names)")
        }
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
    for group in CheckpointAudit.duplicates(sweep) {
        out.line("warning: checkpoints \(group.joined(separator: ", ")) hold byte-identical weights (same files fingerprint): "
            + "a duplicated step, one point on the curve rather than \(group.count)")
    }
    let counts = TaskKind.allCases.map { "\(sweep.plan.count($0)) \($0.rawValue)" }.joined(separator: ", ")
    out.line("\(sweep.plan.tasks.count) tasks: \(counts)")
    for (lang, concepts) in Dictionary(grouping: sweep.skipped, by: \.language).sorted(by: { $0.key < $1.key }) {
        out.line("  skipped in \(lang) (fewer than \(c.expertise.minPositives) positives, or no negatives): "
            + concepts.map { "\($0.concept) (\($0.positives))" }.joined(separator: ", "))
    }
    // What is on disk already, and what a run will redo and why.
    let ledger = Ledger(store: sweep.fragments, plan: sweep.plan, inputs: sweep.inputs)
    if !ledger.done.isEmpty || !ledger.stale.isEmpty || !ledger.broken.isEmpty || !ledger.foreign.isEmpty {
        out.line("\(ledger.done.count) of \(sweep.plan.tasks.count) tasks already done in \(sweep.fragments.directory)")
        for reason in ledger.rerunReasons(plan: sweep.plan) { out.line("rerun: \(reason)") }
        if !ledger.broken.isEmpty { out.line("\(ledger.broken.count) incomplete or corrupt fragments will be made again") }
        if !ledger.foreign.isEmpty {
            out.line("\(ledger.foreign.count) files in \(sweep.fragments.directory) are no task of this plan (another config's, "
                + "or an older fragment layout) and are ignored")
        }
    }
    if tasks {
        for t in sweep.plan.tasks {
            let deps = sweep.plan.dependencies[t.id] ?? []
            out.line(String(format: "%@  seed %016llx  after %@", t.id, t.seed(sweepSeed: c.seed),
                            deps.isEmpty ? "-" : deps.joined(separator: ",")))
        }
    }
    out.flush()
}
