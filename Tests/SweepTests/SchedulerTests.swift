import XCTest
@testable import SweepRunner
@testable import SweepCore

/// The coordinator's state machine under injected faults: expiry, failures, duplicates, affinity.
final class SchedulerTests: XCTestCase {
    let plan = Plan(checkpoints: ["a", "b"], languages: ["en", "es"], layers: ["a": 1, "b": 1], concepts: ["joy"],
                    generation: true)

    func drain(_ s: inout Scheduler, worker: String = "w", holding: String? = nil) -> [String] {
        var order: [String] = []
        var now = 0.0
        while let t = s.assign(worker: worker, holding: holding, now: now) {
            order.append(t.id)
            XCTAssertTrue(s.complete(task: t.id, worker: worker))
            now += 1
        }
        return order
    }

    func testRunsEverythingInDependencyOrderAndFinishes() {
        var s = Scheduler(plan: plan, done: [])
        let order = drain(&s)
        XCTAssertEqual(Set(order), Set(plan.tasks.map(\.id)))
        XCTAssertEqual(order.count, plan.tasks.count)
        var seen = Set<String>()
        for id in order {
            XCTAssertTrue(plan.dependencies[id]!.allSatisfy(seen.contains), id)
            seen.insert(id)
        }
        XCTAssertTrue(s.finished)
    }

    func testAffinityLeaseExpiryRetriesAndDuplicates() {
        var s = Scheduler(plan: plan, done: [], maxAttempts: 2, leaseSeconds: 10)
        // A worker holding checkpoint b gets b's work first.
        let first = s.assign(worker: "w1", holding: "b", now: 0)!
        XCTAssertEqual(first.checkpoint, "b")
        // Its lease expires: the task goes back and another worker takes it.
        s.expire(now: 11)
        XCTAssertTrue(s.drainEvents().contains { $0.contains("expired") })
        let again = s.assign(worker: "w2", holding: "b", now: 12)!
        XCTAssertEqual(again.id, first.id)
        // Heartbeats keep a lease alive.
        s.heartbeat(worker: "w2", task: again.id, now: 20)
        s.expire(now: 25)
        XCTAssertNotNil(s.leases[again.id])
        // The second failure exhausts its attempts: failed, with the worker's error, and its
        // dependents can never run; the rest of the sweep goes on and finishes.
        s.fail(task: again.id, worker: "w2", error: "boom")
        XCTAssertEqual(s.failed[again.id], "boom")
        // The late first worker finishing is harmless, and a duplicate done changes nothing.
        _ = drain(&s)
        XCTAssertTrue(s.finished)
        XCTAssertFalse(s.done.contains(again.id))
        XCTAssertFalse(s.blocked.isEmpty)
        XCTAssertTrue(s.blocked.allSatisfy { id in plan.tasks.first { $0.id == id }!.checkpoint == "b" })
        let before = s.done
        XCTAssertFalse(s.complete(task: plan.tasks[0].id, worker: "w1"))
        XCTAssertEqual(s.done, before)
    }

    /// A task given back by a stopped worker (preemption, a time limit) is queued again at once and
    /// its attempt is not spent: given back more often than `maxAttempts`, it still runs and succeeds.
    func testAbandonedTasksComeBackAtOnceWithoutSpendingAnAttempt() {
        var s = Scheduler(plan: plan, done: [], maxAttempts: 2, leaseSeconds: 10)
        let first = s.assign(worker: "w1", holding: nil, now: 0)!
        for round in 1...5 {
            XCTAssertFalse(s.abandon(task: first.id, worker: "w9", reason: "forged"), "only the lease holder gives a task back")
            XCTAssertTrue(s.abandon(task: first.id, worker: "w\(round)", reason: "stopped by SIGTERM"))
            XCTAssertEqual(s.attempts[first.id], 0)
            XCTAssertTrue(s.drainEvents().contains { $0.contains("given back unfinished by w\(round) (stopped by SIGTERM)") })
            let again = s.assign(worker: "w\(round + 1)", holding: nil, now: Double(round))!
            XCTAssertEqual(again.id, first.id, "queued again at once, first in plan order")
        }
        XCTAssertEqual(s.attempts[first.id], 1)
        XCTAssertTrue(s.complete(task: first.id, worker: "w6"))
        XCTAssertTrue(s.failed.isEmpty)
    }

    /// `allowed` keeps tasks from a worker that cannot take them (its memory): it gets the next
    /// task it can take, or none, and the others stay ready for other workers.
    func testAssignSkipsWhatAWorkerCannotTake() {
        var s = Scheduler(plan: plan, done: [], maxAttempts: 2, leaseSeconds: 10)
        let onlyB = s.assign(worker: "small", holding: nil, now: 0) { $0.checkpoint == "b" }!
        XCTAssertEqual(onlyB.checkpoint, "b")
        XCTAssertNil(s.assign(worker: "none", holding: nil, now: 0) { _ in false })
        XCTAssertEqual(s.assign(worker: "big", holding: "b", now: 0)?.checkpoint, "b", "b's other extraction")
        XCTAssertEqual(s.assign(worker: "small", holding: nil, now: 0) { $0.checkpoint == "b" }?.kind, .unforced, "b's base rate")
        XCTAssertNil(s.assign(worker: "small", holding: nil, now: 0) { $0.checkpoint == "b" }, "nothing of b is ready now")
        XCTAssertEqual(Set(s.readyTasks.map(\.checkpoint)), ["a"], "a's tasks stayed ready for others")
        XCTAssertEqual(s.assign(worker: "big", holding: "b", now: 0)?.checkpoint, "a")
    }

    /// Only the holder of a task's current lease speaks for it: forged `done`/`failed` reports for
    /// real task ids from peers that never held them (or whose lease expired) change nothing, and
    /// no task becomes ready before everything it needs is done.
    func testForgedReportsAreIgnoredAndNothingRunsBeforeItsInputs() {
        var s = Scheduler(plan: plan, done: [], maxAttempts: 3, leaseSeconds: 10)
        let ids = plan.tasks.map(\.id)
        var now = 0.0
        var seen = Set<String>()
        var forgedAccepted = 0
        var rng = SystemRandomNumberGenerator()
        while !s.finished {
            // The forger reports every task failed and done, before and after each real step.
            for id in ids.shuffled(using: &rng) {
                if s.fail(task: id, worker: "forger", error: "forged") { forgedAccepted += 1 }
                if s.complete(task: id, worker: "forger") { forgedAccepted += 1 }
            }
            guard let t = s.assign(worker: "w1", holding: nil, now: now) else { XCTFail("stalled"); break }
            XCTAssertTrue(plan.dependencies[t.id]!.allSatisfy(seen.contains), "\(t.id) leased before its inputs")
            // A worker whose lease expired is no longer the holder either.
            if t.kind == .probe && s.attempts[t.id] == 1 {
                s.expire(now: now + 11)
                XCTAssertFalse(s.complete(task: t.id, worker: "w1"))
                now += 12
                continue
            }
            XCTAssertTrue(s.complete(task: t.id, worker: "w1"))
            seen.insert(t.id)
            now += 1
        }
        XCTAssertEqual(forgedAccepted, 0)
        XCTAssertEqual(s.failed, [:])
        XCTAssertEqual(s.done, Set(ids))
        XCTAssertFalse(s.drainEvents().contains { $0.contains("forger") })
    }

    /// Work is handed out longest-path first: every extraction before anything else, then the
    /// expertise a generation waits for, then generation cells, and the short probing tasks last,
    /// so no generation runs alone at the end while other workers idle.
    func testCriticalPathFirst() {
        let one = Plan(checkpoints: ["a"], languages: ["en", "es", "zh"], layers: ["a": 2], concepts: ["joy", "sea"],
                       generation: true)
        var s = Scheduler(plan: one, done: [])
        let order = drain(&s).map { $0.split(separator: "/")[0] }
        XCTAssertEqual(Array(order.prefix(3)), ["extract", "extract", "extract"])
        XCTAssertEqual(Array(order[3..<6]), ["expertise", "expertise", "expertise"])
        // The generation cells and the unforced base rate (as long as a cell, with nothing after it).
        XCTAssertEqual(Array(order[6..<13]).sorted(), ["generate", "generate", "generate", "generate", "generate", "generate", "unforced"])
        XCTAssertEqual(Array(order[13...]), ["alignment", "probe", "probe", "probe", "lape"], "the short tasks last, in plan order")
        XCTAssertTrue(s.finished)
    }

    func testResumesFromTheLedger() {
        let extracts = Set(plan.tasks.filter { $0.kind == .extract }.map(\.id))
        var s = Scheduler(plan: plan, done: extracts)
        let order = drain(&s)
        XCTAssertEqual(order.count, plan.tasks.count - extracts.count)
        XCTAssertTrue(order.allSatisfy { !extracts.contains($0) })
    }
}
