import Foundation
import Store
import SweepCore

/// Runs a whole plan in this process, in plan order (the single-worker path, and the reference
/// that multi-worker runs must reproduce bit for bit). Finished tasks (a complete fragment on disk)
/// are skipped, so a rerun resumes.
public struct LocalRunner {
    public let sweep: ResolvedSweep

    public init(sweep: ResolvedSweep) { self.sweep = sweep }

    public func run(progress: (Int, Int, SweepTask) -> Void = { _, _, _ in }) throws {
        let runner = try TaskRunner(sweep: sweep)
        var done = Ledger(store: sweep.fragments, plan: sweep.plan, inputs: sweep.inputs).done
        while true {
            let ready = sweep.plan.ready(done: done)
            guard let next = ready.first(where: { $0.checkpoint == runner.heldCheckpoint }) ?? ready.first else { break }
            try runner.run(next)
            done.insert(next.id)
            progress(done.count, sweep.plan.tasks.count, next)
        }
    }
}
