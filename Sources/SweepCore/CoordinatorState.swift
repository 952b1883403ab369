import Foundation
import Logging

/// The coordinator's decisions, apart from any socket, clock or file: it takes `(peer, frame,
/// now)` and returns actions — replies to send, lines to log, fragments to verify — and, polled
/// with the time, says whether the sweep is finished or must give up. `Coordinator` drives it over
/// a `CoordinatorChannel` (ZeroMQ, or the in-memory channel tests and `bench sweep` use).
public struct CoordinatorState: Sendable {
    /// What the driver does for the state machine.
    public enum Action: Sendable, Equatable {
        /// Send `message` to `peer`.
        case reply(peer: [UInt8], Message)
        case log(Logger.Level, String)
        /// Check `task`'s fragment on disk, then call `verified(task:worker:ok:now:)`: `worker` reported it done.
        case verify(task: String, worker: String)
    }

    /// What `poll` says about the sweep as a whole.
    public enum Verdict: Sendable, Equatable {
        case running
        /// Every task is done (or failed for good) and every worker was told; or, stopping, no lease is left.
        case finished
        /// The plan looks finished: the driver checks the fragments on disk (`recheck`) before it believes it.
        case recheck
        /// No worker, or none that can take what is ready, for too long: the sweep stops with this error.
        case gaveUp(String)
    }

    /// The settings the decisions read (from the sweep's config).
    public struct Settings: Sendable {
        public var leaseSeconds: Double
        public var maxAttempts: Int
        public var noWorkerTimeout: Double
        public var nodeCutoff: Int
        public var output: String
        /// A welcome's fields: the config's path and text, the plan's digest and components.
        public var welcome: [String: String]
        public init(leaseSeconds: Double, maxAttempts: Int, noWorkerTimeout: Double, nodeCutoff: Int, output: String,
                    welcome: [String: String]) {
            self.leaseSeconds = leaseSeconds
            self.maxAttempts = maxAttempts
            self.noWorkerTimeout = noWorkerTimeout
            self.nodeCutoff = nodeCutoff
            self.output = output
            self.welcome = welcome
        }
    }

    /// A worker as the coordinator knows it (bounded: a checkpoint name it holds, if it is one of
    /// the plan's, and when it was last heard from).
    public struct Peer: Sendable {
        public var held: String?
        public var seen: Double
        public var host: String
        /// Whether it has asked for work (only such peers are waited for at the end, to be told to stop).
        public var working = false
        /// Bytes it says it may use (nil: it did not say), and its CPU's kernel level.
        public var memory: Int?
        public var cpu = "?"
        public var lastError: String?
        /// Checkpoints whose tasks it was not given at its last request, and why (memory).
        public var notGiven: [String: String] = [:]
        /// Its last request found ready work, but none it can take.
        public var starved = false
    }

    /// Why and since when the coordinator is draining (signalled: preemption, a time limit):
    /// no new leases; workers finish within `grace` seconds or give their task back.
    public struct Stopping: Sendable {
        public let reason: String
        public let since: Double
        public let grace: Double
    }

    /// Frames larger than this are refused (ZeroMQ refuses them before they arrive, too).
    public static let maxFrameBytes = 256 << 10
    /// At most this many peers are remembered at once; hellos beyond it are not.
    public static let maxPeers = 4096

    public let plan: Plan
    public let settings: Settings
    public let placement: Placement
    let checkpoints: Set<String>
    public internal(set) var scheduler: Scheduler
    public internal(set) var workers: [String: Peer] = [:]
    public internal(set) var health: NodeHealth
    /// The last failure of each task that has failed and is not done since, under the code it was
    /// counted as (a node fault seen on two nodes is the task's: `input`).
    public internal(set) var failures: [String: TaskFailure] = [:]
    /// Worker-side errors (could not start, refused the plan), latest last, at most 100.
    public internal(set) var workerErrors: [(worker: String, host: String, error: String)] = []
    /// Seconds of task execution reported by workers, for utilisation.
    public internal(set) var busySeconds = 0.0
    public internal(set) var stopping: Stopping?
    /// When the state machine started (the clock's first reading).
    public let started: Double
    // For `poll`: the last time a worker was connected, some working peer could take ready work,
    // the plan looked finished, and how often the disk disagreed with it.
    var lastWorker: Double, lastPlaceable: Double, finishedAt: Double?
    var rechecks = 0
    var recheckedClean = false

    public init(plan: Plan, done: Set<String>, settings: Settings, checkpoints: Set<String>,
                placement: Placement = Placement(weightBytes: [:]), now: Double) {
        self.plan = plan
        self.settings = settings
        self.placement = placement
        self.checkpoints = checkpoints
        health = NodeHealth(cutoff: settings.nodeCutoff)
        scheduler = Scheduler(plan: plan, done: done, maxAttempts: settings.maxAttempts, leaseSeconds: settings.leaseSeconds)
        started = now
        lastWorker = now
        lastPlaceable = now
    }

    public var progress: SweepProgress {
        SweepProgress(done: scheduler.done.count, total: plan.tasks.count, running: scheduler.leases.count,
                             failed: scheduler.failed.count, workers: workers.count)
    }

    /// The failures of the tasks that failed for good, grouped by code: `input: 2, node: 1`.
    public var failureCounts: String { TaskFailure.counts(scheduler.failed.keys.compactMap { failures[$0] }) }

    /// Starts draining (see `Coordinator.stop`).
    public mutating func stop(reason: String, grace: Double, now: Double) -> [Action] {
        guard stopping == nil else { return [] }
        stopping = Stopping(reason: reason, since: now, grace: grace)
        return [.log(.info, "stopping (\(reason)): no new tasks; \(scheduler.leases.count) running tasks get \(Int(grace)) s to finish or are given back")]
    }

    /// One frame from `identity`: checked, decoded and handled; anything malformed is dropped with a log line.
    public mutating func receive(_ frames: [[UInt8]], now: Double) -> [Action] {
        guard frames.count == 2 else {
            return [.log(.warning, "dropped a message of \(frames.count) frames (expected identity + one frame)")]
        }
        let identity = frames[0]
        let worker = String(decoding: identity, as: UTF8.self)
        guard frames[1].count <= Self.maxFrameBytes else {
            return [.log(.warning, "dropped a frame of \(frames[1].count) bytes from \(worker.debugDescription) (limit \(Self.maxFrameBytes))")]
        }
        let message: Message
        do { message = try Message.decode(frames[1]) } catch {
            return [.log(.warning, "dropped a malformed frame from \(worker.debugDescription): \(error)")]
        }
        return handle(identity, message, now: now)
    }

    /// One decoded message from `identity` at time `now`.
    public mutating func handle(_ identity: [UInt8], _ message: Message, now: Double) -> [Action] {
        let worker = String(decoding: identity, as: UTF8.self)
        // Only messages a worker sends make (or keep) it a worker, and only a bounded number of them.
        if [.hello, .request, .heartbeat, .done, .failed, .abandoned].contains(message.kind) {
            if workers[worker] != nil {
                workers[worker]!.seen = now
            } else if workers.count < Self.maxPeers {
                workers[worker] = Peer(held: nil, seen: now, host: "?")
            }
        }
        let held = message.body["held"].flatMap { checkpoints.contains($0) ? $0 : nil }
        func reply(_ m: Message) -> [Action] { [.reply(peer: identity, m)] }
        switch message.kind {
        case .hello:
            guard workers[worker] != nil else { return [] }
            workers[worker]!.held = held
            workers[worker]!.host = String((message.body["host"] ?? "?").prefix(255))
            workers[worker]!.memory = message.body["memory_bytes"].flatMap(Int.init).map { max(0, $0) }
            workers[worker]!.cpu = String((message.body["cpu"] ?? "?").prefix(120))
            if let reason = health.reason(workers[worker]!.host) {
                workers[worker] = nil
                return reply(Message(.shutdown, ["reason": reason]))
            }
            return reply(Message(.welcome, settings.welcome))
        case .request:
            guard let peer = workers[worker] else { return [] }
            workers[worker]!.held = held
            workers[worker]!.working = true
            if let stopping { return reply(Message(.shutdown, ["reason": "the sweep is stopping (\(stopping.reason))"])) }
            if let reason = health.reason(peer.host) {
                workers[worker] = nil
                return reply(Message(.shutdown, ["reason": reason]))
            }
            let memory = peer.memory, placement = placement
            let task = scheduler.assign(worker: worker, holding: held, now: now) { placement.refusal($0, memory: memory) == nil }
            // What it could not be given, and why, for `status` (one line per checkpoint).
            var notGiven: [String: String] = [:]
            var readyLeft = false
            for (checkpoint, queue) in scheduler.queues where !queue.isEmpty {
                readyLeft = true
                if let why = placement.refusal(checkpoint: checkpoint, memory: memory),
                   queue.members.contains(where: { Placement.loadsModel(plan.tasks[$0]) }) { notGiven[checkpoint] = why }
            }
            var out: [Action] = []
            for (checkpoint, why) in notGiven.sorted(by: { $0.key < $1.key }) where workers[worker]!.notGiven[checkpoint] == nil {
                out.append(.log(.info, "worker \(worker) on \(peer.host) is not given \(checkpoint)'s model tasks: \(why)"))
            }
            workers[worker]!.notGiven = notGiven
            workers[worker]!.starved = task == nil && readyLeft
            if let task {
                out += reply(Message(.task, ["task": task.id, "attempt": String(scheduler.attempts[task.id] ?? 1)]))
            } else if scheduler.finished && (recheckedClean || rechecks >= 3) {
                out += reply(Message(.shutdown))
            } else if scheduler.finished {
                // Not before the disk has confirmed the finish (`poll` → `.recheck`): a task redone
                // with other bits makes what read it stale, and a worker told to leave would not
                // be there to run it again.
                out += reply(Message(.wait, ["milliseconds": "250"]))
            } else {
                out += reply(Message(.wait, ["milliseconds": "250"]))
            }
            return out
        case .heartbeat:
            guard workers[worker] != nil else { return [] }
            scheduler.heartbeat(worker: worker, task: message.body["task"], now: now)
            if let stopping {
                let left = max(0, stopping.grace - (now - stopping.since))
                return reply(Message(.stop, ["grace_seconds": String(format: "%.3f", left), "reason": stopping.reason]))
            }
            return reply(Message(.ack))
        case .done:
            guard let id = message.body["task"] else { return [.log(.info, "done without a task (worker \(worker))")] }
            // Only the lease holder speaks for a task; anyone else's report is ignored.
            guard scheduler.holds(worker, task: id) else {
                return [.log(.debug, "ignored done for \(id) from a worker that does not hold its lease (worker \(worker))")]
            }
            busySeconds += max(0, min(Double(message.body["seconds"] ?? "0") ?? 0, now - started))
            return [.verify(task: id, worker: worker)]
        case .failed:
            guard let id = message.body["task"] else { return [.log(.info, "failure without a task (worker \(worker))")] }
            guard scheduler.holds(worker, task: id) else {
                return [.log(.debug, "ignored a failure of \(id) from a worker that does not hold its lease (worker \(worker))")]
            }
            let error = String((message.body["error"] ?? "unknown error").prefix(4096))
            return taskFailed(worker, TaskFailure(task: id, code: FailureCode(wire: message.body["code"]), host: workers[worker]?.host ?? "?",
                                                  message: error))
        case .abandoned:
            guard let id = message.body["task"] else { return [.log(.info, "abandoned without a task (worker \(worker))")] }
            let reason = String((message.body["reason"] ?? "stopped").prefix(300))
            if !scheduler.abandon(task: id, worker: worker, reason: reason) {
                return [.log(.debug, "ignored an abandoned \(id) from a worker that does not hold its lease (worker \(worker))")]
            }
            return []
        case .refused:
            let host = String((message.body["host"] ?? "?").prefix(255))
            let error = String((message.body["error"] ?? "unknown error").prefix(4096))
            var out: [Action] = [.log(.error, "worker \(worker) on \(host) cannot work on this sweep: \(error)")]
            workerErrors.append((worker, host, error))
            if workerErrors.count > 100 { workerErrors.removeFirst() }
            out += nodeFailed(worker, host: host, error: error)
            scheduler.drop(worker: worker)
            workers[worker] = nil
            return out
        case .bye:
            scheduler.drop(worker: worker)
            workers[worker] = nil
            return []
        case .status:
            return reply(statusReply(now: now))
        case .welcome, .task, .wait, .shutdown, .ack, .stop, .statusReply:
            return [.log(.warning, "dropped a \(message.kind) message from \(worker): only a coordinator sends those")]
        }
    }

    /// The answer to a `.verify` action: whether the fragment `worker` reported done is current on disk.
    public mutating func verified(task id: String, worker: String, ok: Bool, now: Double) -> [Action] {
        let host = workers[worker]?.host ?? "?"
        guard ok else {
            return taskFailed(worker, TaskFailure(task: id, code: .node, host: host,
                                                  message: "reported done, but its fragment is missing, corrupt, or made from other inputs"))
        }
        scheduler.complete(task: id, worker: worker)
        health.succeeded(host: host, task: id)
        failures[id] = nil
        return []
    }

    /// Housekeeping at `now`: expired leases go back to the queue, workers silent for two lease
    /// periods are forgotten, and the scheduler's events are logged.
    public mutating func housekeep(now: Double) -> [Action] {
        scheduler.expire(now: now)
        var out: [Action] = []
        for (id, w) in workers.sorted(by: { $0.key < $1.key }) where now - w.seen > settings.leaseSeconds * 2 {
            out.append(.log(.warning, "worker \(id) on \(w.host) silent for \(Int(now - w.seen)) s; forgotten"))
            scheduler.drop(worker: id)
            workers[id] = nil
        }
        out += scheduler.drainEvents().map { .log(.info, $0) }
        // Whether some working peer can take what is ready (a walk over every peer: at housekeeping pace).
        if !scheduler.leases.isEmpty {
            lastPlaceable = now
        } else {
            var anyWorking = false, anyPlaceable = false
            for w in workers.values where w.working {
                anyWorking = true
                if !w.starved { anyPlaceable = true; break }
            }
            if !anyWorking || anyPlaceable { lastPlaceable = now }
        }
        return out
    }

    /// The scheduler's events not yet logged (the driver flushes them before it returns).
    public mutating func events() -> [Action] { scheduler.drainEvents().map { .log(.info, $0) } }

    /// Where the sweep stands at `now` (call after every batch of messages). `idleExit`: seconds to
    /// wait, once finished, for working peers to be told to stop.
    public mutating func poll(now: Double, idleExit: Double) -> Verdict {
        if let stopping {
            // Idle workers get a moment to be told (their next request is answered shutdown).
            if scheduler.leases.isEmpty && (now - stopping.since > 1 || workers.isEmpty) { return .finished }
            return now - stopping.since > stopping.grace + 10 ? .finished : .running
        }
        if !workers.isEmpty { lastWorker = now }
        if scheduler.finished && finishedAt == nil && !recheckedClean && rechecks < 3 { return .recheck }
        if scheduler.leases.isEmpty == false { lastPlaceable = now }
        if scheduler.finished {
            finishedAt = finishedAt ?? now
            return !workers.values.contains(where: \.working) || now - finishedAt! > idleExit ? .finished : .running
        }
        if now - lastWorker > settings.noWorkerTimeout {
            let last = workerErrors.last.map { "; the last worker error, from \($0.host): \($0.error)" } ?? ""
            let cut = health.cutOffLines.first.map { "; \($0)" } ?? ""
            return .gaveUp("no worker connected for \(Int(settings.noWorkerTimeout)) s (no_worker_timeout) with "
                + "\(plan.tasks.count - scheduler.done.count) of \(plan.tasks.count) tasks left\(last)\(cut); "
                + "the fragments stay in \(settings.output)/fragments for a resume")
        }
        // Workers that cannot hold what is left are told so soon: more memory rarely joins later.
        let starvedTimeout = min(settings.noWorkerTimeout, 120)
        if now - lastPlaceable > starvedTimeout {
            let why = Set(workers.values.filter(\.working).flatMap { $0.notGiven.values }).sorted().prefix(3).joined(separator: "; ")
            return .gaveUp("for \(Int(starvedTimeout)) s no connected worker could take any "
                + "of the \(scheduler.readyTasks.count) ready tasks: \(why); the fragments stay in \(settings.output)/fragments for a resume")
        }
        return .running
    }

    /// The answer to a `.recheck` verdict: the tasks whose fragments are current on disk now. Tasks
    /// the scheduler counts done but whose fragments are not (made again with other bits, which
    /// makes what read the old ones stale) run again; at most three times.
    public mutating func rechecked(onDisk: Set<String>) -> [Action] {
        let stale = scheduler.done.subtracting(onDisk)
        guard !stale.isEmpty else {
            recheckedClean = true
            return []
        }
        rechecks += 1
        scheduler = Scheduler(plan: plan, done: onDisk, maxAttempts: settings.maxAttempts, leaseSeconds: settings.leaseSeconds)
        return [.log(.info, "\(stale.count) tasks read fragments that were made again with other bits; running them again")]
    }

    /// One line per working peer: its id, host, CPU and memory, the checkpoint it holds, the task
    /// it runs, its last error, and the checkpoints it is not given and why.
    public func workerList(now: Double) -> String {
        let running = Dictionary(grouping: scheduler.leases.values, by: \.worker)
        return workers.filter(\.value.working).sorted { $0.key < $1.key }.prefix(200).map { id, peer in
            let tasks = running[id]?.map(\.task.id).sorted().joined(separator: ", ") ?? "idle"
            var line = "\(id) on \(peer.host) (\(peer.cpu), \(peer.memory.map(Placement.gib) ?? "memory unknown")): "
                + "holds \(peer.held ?? "no checkpoint"), running \(tasks), last heard \(Int(now - peer.seen)) s ago"
            if let e = peer.lastError { line += "; last error: \(e.prefix(300))" }
            for (checkpoint, why) in peer.notGiven.sorted(by: { $0.key < $1.key }) { line += "; not given \(checkpoint): \(why)" }
            return line
        }.joined(separator: "\n")
    }

    func statusReply(now: Double) -> Message {
        let p = progress
        return Message(.statusReply, [
            "done": String(p.done), "total": String(p.total), "running": String(p.running),
            "failed": String(p.failed), "workers": String(p.workers),
            "failures": scheduler.failed.sorted { $0.key < $1.key }.map { id, error in
                failures[id].map { "\(id) [\($0.code.rawValue)]: \(error)" } ?? "\(id): \(error)"
            }.joined(separator: "\n"),
            "failures_by_code": failureCounts,
            "worker_errors": workerErrors.suffix(20).map { "\($0.worker) on \($0.host): \($0.error)" }.joined(separator: "\n"),
            "worker_list": workerList(now: now),
            "nodes_cut_off": health.cutOffLines.joined(separator: "\n"),
            "stopping": stopping.map { "stopping (\($0.reason)) for \(Int(now - $0.since)) s" } ?? "",
        ])
    }

    /// A failure on `host` that is not a task's (a worker could not start): kept as the worker's
    /// last error, and counted against the node, which is cut off when it keeps failing.
    mutating func nodeFailed(_ worker: String, host: String, error: String) -> [Action] {
        workers[worker]?.lastError = error
        if health.failed(host: host, error: error), let reason = health.reason(host) { return [.log(.error, reason)] }
        return []
    }

    /// A task's failure: counted against the node only when it is the node's (or its resources')
    /// fault, recorded under the code it was counted as, and the task retried or failed for good.
    mutating func taskFailed(_ worker: String, _ failure: TaskFailure) -> [Action] {
        workers[worker]?.lastError = "\(failure.task): \(failure.message)"
        let (code, cutOff) = health.failed(failure)
        failures[failure.task] = TaskFailure(task: failure.task, code: code, host: failure.host, message: failure.message)
        scheduler.fail(task: failure.task, worker: worker, error: "[\(code.rawValue)] \(failure.message)")
        if cutOff, let reason = health.reason(failure.host) { return [.log(.error, reason)] }
        return []
    }
}
