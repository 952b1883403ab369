/// The coordinator's bookkeeping as a pure state machine over events (no sockets, no clock of
/// its own): which tasks are done, leased, failed, and which task to give a worker next.
public struct Scheduler: Sendable {
    public struct Lease: Sendable {
        public let task: SweepTask
        public let worker: String
        public var deadline: Double
    }

    public let plan: Plan
    public let maxAttempts: Int
    public let leaseSeconds: Double
    public private(set) var done: Set<String>
    public private(set) var leases: [String: Lease] = [:]
    public private(set) var attempts: [String: Int] = [:]
    /// Tasks that failed `maxAttempts` times, with the last worker's error.
    public private(set) var failed: [String: String] = [:]
    /// Log lines for the operator (expired leases, retries).
    public private(set) var events: [String] = []

    public init(plan: Plan, done: Set<String>, maxAttempts: Int = 3, leaseSeconds: Double = 30) {
        self.plan = plan
        self.done = done.intersection(plan.tasks.map(\.id))
        self.maxAttempts = maxAttempts
        self.leaseSeconds = leaseSeconds
    }

    /// A task for `worker`: ready, not leased, not failed; preferring the checkpoint it holds.
    public mutating func assign(worker: String, holding checkpoint: String?, now: Double) -> SweepTask? {
        let candidates = plan.ready(done: done).filter { leases[$0.id] == nil && failed[$0.id] == nil }
        guard let task = candidates.first(where: { $0.checkpoint == checkpoint }) ?? candidates.first else { return nil }
        leases[task.id] = Lease(task: task, worker: worker, deadline: now + leaseSeconds)
        attempts[task.id, default: 0] += 1
        return task
    }

    public mutating func heartbeat(worker: String, task: String?, now: Double) {
        for (id, lease) in leases where lease.worker == worker && (task == nil || task == id) {
            leases[id]?.deadline = now + leaseSeconds
        }
    }

    /// A finished task (its fragment verified by the caller). A late duplicate is harmless.
    public mutating func complete(task id: String) {
        leases[id] = nil
        done.insert(id)
        failed[id] = nil
    }

    public mutating func fail(task id: String, worker: String, error: String) {
        guard leases[id]?.worker == worker || leases[id] == nil else { return }
        leases[id] = nil
        if attempts[id, default: 0] >= maxAttempts {
            failed[id] = error
            events.append("task \(id) failed \(attempts[id] ?? 0) times; last error from \(worker): \(error)")
        } else {
            events.append("task \(id) failed on \(worker) (attempt \(attempts[id] ?? 0) of \(maxAttempts)): \(error); retrying")
        }
    }

    /// Leases whose worker stopped heartbeating go back to the pool (counted as a failed attempt).
    public mutating func expire(now: Double) {
        for (id, lease) in leases where lease.deadline < now {
            events.append("lease of \(id) on \(lease.worker) expired")
            fail(task: id, worker: lease.worker, error: "lease expired (worker silent for \(Int(leaseSeconds)) s)")
        }
    }

    /// Forgets a worker that said goodbye or died: its leases return to the pool.
    public mutating func drop(worker: String) {
        for (id, lease) in leases where lease.worker == worker { leases[id] = nil }
    }

    public mutating func drainEvents() -> [String] {
        defer { events = [] }
        return events
    }

    /// Nothing leased, and nothing left that could ever become ready.
    public var finished: Bool {
        guard leases.isEmpty else { return false }
        return plan.ready(done: done).allSatisfy { failed[$0.id] != nil }
    }

    /// Tasks that can never run because something they need failed.
    public var blocked: [String] {
        plan.tasks.map(\.id).filter { !done.contains($0) && failed[$0] == nil }
    }
}
