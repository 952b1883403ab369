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

    /// Readiness, kept incrementally: unfinished dependencies per task, who waits on whom, and
    /// the ready (unleased, unfailed) tasks per checkpoint, best `rank` first (`ReadyQueue`).
    var waiting: [Int]
    let dependents: [[Int]]
    let position: [String: Int]
    var queues: [String: ReadyQueue] = [:]
    /// Each task's place in the order work is handed out: longest remaining path first (the
    /// task's own expected cost plus its costliest chain of dependents, `TaskKind.expectedCost`),
    /// then plan order. Extraction and the generation cells it leads to are the sweep's critical
    /// path: started early, they do not run alone at the end while other workers idle.
    let rank: [Int]

    public init(plan: Plan, done: Set<String>, maxAttempts: Int = 3, leaseSeconds: Double = 30) {
        self.plan = plan
        self.done = done.intersection(plan.tasks.map(\.id))
        self.maxAttempts = maxAttempts
        self.leaseSeconds = leaseSeconds
        let position = Dictionary(uniqueKeysWithValues: plan.tasks.enumerated().map { ($1.id, $0) })
        var dependents = [[Int]](repeating: [], count: plan.tasks.count)
        var waiting = [Int](repeating: 0, count: plan.tasks.count)
        for (i, t) in plan.tasks.enumerated() {
            for d in plan.dependencies[t.id] ?? [] where !self.done.contains(d) {
                if let j = position[d] { dependents[j].append(i); waiting[i] += 1 }
            }
        }
        self.position = position
        self.dependents = dependents
        self.waiting = waiting
        rank = Self.ranks(plan, position: position)
        for (i, t) in plan.tasks.enumerated() where waiting[i] == 0 && !self.done.contains(t.id) {
            queues[t.checkpoint, default: ReadyQueue()].insert(i, rank: rank)
        }
    }

    /// `rank` of every task: by longest expected path to the end of the sweep (the task's cost and
    /// its costliest dependent's path), descending, then plan position.
    static func ranks(_ plan: Plan, position: [String: Int]) -> [Int] {
        let n = plan.tasks.count
        var after = [[Int]](repeating: [], count: n)
        for (i, t) in plan.tasks.enumerated() {
            for d in plan.dependencies[t.id] ?? [] { if let j = position[d] { after[j].append(i) } }
        }
        // Plans list every task after what it waits for, so one backward pass sees dependents first;
        // a task listed before a dependency of its own (not made by `Plan`) keeps its partial value.
        var path = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            path[i] = plan.tasks[i].kind.expectedCost + (after[i].map { path[$0] }.max() ?? 0)
        }
        let order = (0..<n).sorted { path[$0] != path[$1] ? path[$0] > path[$1] : $0 < $1 }
        var rank = [Int](repeating: 0, count: n)
        for (r, i) in order.enumerated() { rank[i] = r }
        return rank
    }

    /// Queues task `i`, but only when every task it needs is done and it is neither done, failed
    /// for good, nor leased: nothing can make a task runnable before its inputs exist.
    mutating func makeReady(_ i: Int) {
        let id = plan.tasks[i].id
        guard waiting[i] == 0, !done.contains(id), failed[id] == nil, leases[id] == nil else { return }
        queues[plan.tasks[i].checkpoint, default: ReadyQueue()].insert(i, rank: rank)
    }

    /// A task for `worker`: ready, not leased, not failed, and one the worker can take
    /// (`allowed`: e.g. its memory holds the task's checkpoint); preferring the checkpoint it
    /// holds, else the first in `rank` order (longest path to the end first).
    public mutating func assign(worker: String, holding checkpoint: String?, now: Double,
                                allowed: (SweepTask) -> Bool = { _ in true }) -> SweepTask? {
        let plan = self.plan
        func take(_ c: String) -> Int? { queues[c]?.take(rank: rank) { allowed(plan.tasks[$0]) } }
        var chosen: Int?
        if let checkpoint, let i = take(checkpoint) {
            chosen = i
        } else {
            // The best-ranked task any checkpoint offers that the worker can take.
            var best: (checkpoint: String, position: Int)?
            for c in queues.keys.sorted() where !queues[c]!.isEmpty {
                guard let i = queues[c]!.peek(rank: rank) else { continue }
                let candidate: Int
                if allowed(plan.tasks[i]) {
                    candidate = i
                } else {
                    guard let j = take(c) else { continue }   // a later one it can take
                    queues[c]!.insert(j, rank: rank)
                    candidate = j
                }
                if best == nil || rank[candidate] < rank[best!.position] { best = (c, candidate) }
            }
            if let best {
                queues[best.checkpoint]!.remove(best.position)
                chosen = best.position
            }
        }
        guard let i = chosen else { return nil }
        let task = plan.tasks[i]
        leases[task.id] = Lease(task: task, worker: worker, deadline: now + leaseSeconds)
        attempts[task.id, default: 0] += 1
        return task
    }

    /// Ready tasks that no worker holds a lease on (whether or not anyone can take them).
    public var readyTasks: [SweepTask] { queues.values.flatMap(\.members).sorted().map { plan.tasks[$0] } }

    public mutating func heartbeat(worker: String, task: String?, now: Double) {
        if let task {
            if leases[task]?.worker == worker { leases[task]!.deadline = now + leaseSeconds }
            return
        }
        for (id, lease) in leases where lease.worker == worker {
            leases[id]?.deadline = now + leaseSeconds
        }
    }

    /// Whether `worker` holds the current lease of task `id`: only the holder speaks for a task.
    public func holds(_ worker: String, task id: String) -> Bool { leases[id]?.worker == worker }

    /// A finished task, reported by the holder of its lease (its fragment verified by the caller).
    /// A report from anyone else — a worker whose lease expired, or a peer that never held it — is
    /// ignored and returns false.
    @discardableResult
    public mutating func complete(task id: String, worker: String) -> Bool {
        guard holds(worker, task: id) else { return false }
        complete(task: id)
        return true
    }

    /// Marks a task done (the coordinator's own knowledge: a verified fragment found on disk).
    mutating func complete(task id: String) {
        leases[id] = nil
        guard let i = position[id], !done.contains(id) else { return }
        done.insert(id)
        failed[id] = nil
        let c = plan.tasks[i].checkpoint
        queues[c]?.remove(i)   // completed by a late duplicate while queued again
        for j in dependents[i] {
            waiting[j] -= 1
            if waiting[j] == 0 && !done.contains(plan.tasks[j].id) { makeReady(j) }
        }
    }

    /// A failed attempt, reported by the holder of the task's lease; anyone else's report is
    /// ignored and returns false.
    @discardableResult
    public mutating func fail(task id: String, worker: String, error: String) -> Bool {
        guard holds(worker, task: id) else { return false }
        leases[id] = nil
        guard !done.contains(id), let i = position[id] else { return true }
        if attempts[id, default: 0] >= maxAttempts {
            failed[id] = error
            events.append("task \(id) failed \(attempts[id] ?? 0) times; last error from \(worker): \(error)")
        } else {
            events.append("task \(id) failed on \(worker) (attempt \(attempts[id] ?? 0) of \(maxAttempts)): \(error); retrying")
            makeReady(i)
        }
        return true
    }

    /// A task its lease holder gave back unfinished because it was stopped (preemption, a time
    /// limit, a signal): it is queued again at once and the attempt is not counted, since nothing
    /// about the task failed. Anyone else's report is ignored and returns false.
    @discardableResult
    public mutating func abandon(task id: String, worker: String, reason: String) -> Bool {
        guard holds(worker, task: id) else { return false }
        leases[id] = nil
        attempts[id] = max(0, (attempts[id] ?? 1) - 1)
        events.append("task \(id) given back unfinished by \(worker) (\(reason)); queued again, the attempt not counted")
        if let i = position[id] { makeReady(i) }
        return true
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
        for (id, lease) in leases where lease.worker == worker {
            leases[id] = nil
            if let i = position[id] { makeReady(i) }
        }
    }

    public mutating func drainEvents() -> [String] {
        defer { events = [] }
        return events
    }

    /// Nothing leased, and nothing left that could ever become ready.
    public var finished: Bool { leases.isEmpty && queues.values.allSatisfy(\.isEmpty) }

    /// Tasks that can never run because something they need failed.
    public var blocked: [String] {
        plan.tasks.map(\.id).filter { !done.contains($0) && failed[$0] == nil }
    }
}
