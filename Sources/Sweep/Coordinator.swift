import Foundation
import Logging
import Store

/// Hands out a sweep's tasks to workers over ZeroMQ (ROUTER; workers are DEALERs that ask for work,
/// so the pattern is pull-based and a slow worker is never flooded). Every message is a versioned,
/// length-checked frame; anything malformed is dropped and logged. The coordinator keeps no state
/// that the fragments on disk do not also hold: restarted, it rebuilds the ledger and resumes.
public final class Coordinator {
    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let running: Int
        public let failed: Int
        public let workers: Int
    }

    /// A worker as the coordinator knows it (bounded: a checkpoint name it holds, if it is one of
    /// the plan's, and when it was last heard from).
    struct Peer {
        var held: String?
        var seen: Double
        var host: String
        /// Whether it has asked for work (only such peers are waited for at the end, to be told to stop).
        var working = false
        /// Bytes it says it may use (nil: it did not say), and its CPU's kernel level.
        var memory: Int?
        var cpu = "?"
        var lastError: String?
        /// Checkpoints whose tasks it was not given at its last request, and why (memory).
        var notGiven: [String: String] = [:]
        /// Its last request found ready work, but none it can take.
        var starved = false
    }

    /// Why and since when the coordinator is draining (signalled: preemption, a time limit):
    /// no new leases; workers finish within `grace` seconds or give their task back.
    public struct Stopping: Sendable {
        public let reason: String
        public let since: Double
        public let grace: Double
    }

    public let config: SweepConfig
    public let plan: Plan
    public let inputs: PlanInputs
    public let socket: ZMQSocket
    public let endpoint: String
    public private(set) var scheduler: Scheduler
    var workers: [String: Peer] = [:]
    let checkpoints: Set<String>
    let configPath: String
    let logger: Logger
    let started = Date()
    /// Worker-side errors (could not start, refused the plan): sender → (host, message), latest last.
    public private(set) var workerErrors: [(worker: String, host: String, error: String)] = []
    /// The components workers compare their own plan against (welcome's `plan_components`).
    let planComponents: String

    /// Frames larger than this are refused by ZeroMQ before they reach the coordinator.
    public static let maxFrameBytes = 256 << 10
    /// At most this many peers are remembered at once; hellos beyond it are not.
    public static let maxPeers = 4096

    /// CURVE: the coordinator's secret key, and the public keys of the workers it accepts.
    public struct Security: Sendable {
        public let secretKey: String
        public let authorized: Set<String>
        public init(secretKey: String, authorized: Set<String>) {
            self.secretKey = secretKey
            self.authorized = authorized
        }
    }

    let authenticator: CurveAuthenticator?

    /// Decides whether a task reported done really is: its fragment verifies on disk and was made
    /// from the plan's inputs for the task.
    let verify: (String) -> Bool
    /// The tasks whose fragments are current on disk now (the ledger), checked once the plan looks
    /// finished: a task redone with other bits makes what read its old fragment stale.
    let current: (() -> Ledger)?
    /// The ledger of the last check that found everything the scheduler counts done current on
    /// disk (merge can start from it instead of reading every fragment again).
    public private(set) var ledger: Ledger?
    /// Seconds of task execution reported by workers, for utilisation.
    public private(set) var busySeconds = 0.0
    /// How each node has fared; a node that keeps failing gets no more work.
    public private(set) var health: NodeHealth
    /// The last failure of each task that has failed and is not done since, under the code it was
    /// counted as (a node fault seen on two nodes is the task's: `input`).
    public private(set) var failures: [String: TaskFailure] = [:]
    /// The failures of the tasks that failed for good, grouped by code: `input: 2, node: 1`.
    public var failureCounts: String { TaskFailure.counts(scheduler.failed.keys.compactMap { failures[$0] }) }
    /// Which worker may take a task that loads a model (its memory holds the weights).
    public let placement: Placement
    public private(set) var stopping: Stopping?

    /// `nodeCutoff` (default: the config's `max_node_failures`): failures in a row after which a
    /// node gets no more work; 0 never (a local run, whose one node is the whole sweep).
    public convenience init(sweep: ResolvedSweep, bind: String, security: Security? = nil, nodeCutoff: Int? = nil,
                            logger: Logger = Logger(label: "coordinator")) throws {
        let store = sweep.fragments, expected = sweep.inputs
        // One cache of verified fragments for the whole run: a fragment is hashed when it is reported
        // done, and not again when the plan is checked at the end or merged.
        let cache = LedgerCache(store: store)
        let ledger = Ledger(store: store, plan: sweep.plan, inputs: sweep.inputs, cache: cache)
        for id in ledger.broken { logger.info("fragment of \(id) is incomplete or corrupt; the task will run again") }
        for reason in ledger.rerunReasons(plan: sweep.plan) { logger.info("\(reason)") }
        try self.init(config: sweep.config, plan: sweep.plan, inputs: sweep.inputs, done: ledger.done,
                      components: PlanComponents(sweep).json, bind: bind, security: security,
                      placement: Placement(sweep: sweep), nodeCutoff: nodeCutoff ?? sweep.config.maxNodeFailures, logger: logger,
                      current: { Ledger(store: store, plan: sweep.plan, inputs: expected, cache: cache) }) { id in
            guard let entry = cache.verify(store.path(id)) else { return false }
            return entry.inputsDigest == expected.digests[id]
        }
        try RunRecord.write(sweep: sweep, endpoint: endpoint)
    }

    /// The coordinator over any plan: `done` are the tasks already finished, `verify` decides
    /// whether a task reported done really is.
    public init(config: SweepConfig, plan: Plan, inputs: PlanInputs, done: Set<String>, components: String, bind: String,
                security: Security? = nil, placement: Placement = Placement(weightBytes: [:]), nodeCutoff: Int = 0,
                logger: Logger = Logger(label: "coordinator"),
                current: (() -> Ledger)? = nil, verify: @escaping (String) -> Bool) throws {
        self.placement = placement
        health = NodeHealth(cutoff: nodeCutoff)
        self.current = current
        self.config = config
        self.plan = plan
        self.inputs = inputs
        self.logger = logger
        self.verify = verify
        checkpoints = Set(config.checkpoints.map(\.name))
        configPath = config.file
        planComponents = components
        let context = try ZMQContext()
        let log: @Sendable (String) -> Void = { logger.info("\($0)") }
        if let security {
            authenticator = try CurveAuthenticator(context: context, authorized: security.authorized, log: log)
            socket = try ZMQSocket(.router, context: context, maxMessageBytes: Self.maxFrameBytes)
            try socket.makeCurveServer(secretKey: security.secretKey)
        } else {
            authenticator = nil
            socket = try ZMQSocket(.router, context: context, maxMessageBytes: Self.maxFrameBytes)
        }
        endpoint = try socket.bind(bind)
        scheduler = Scheduler(plan: plan, done: done, maxAttempts: config.maxAttempts, leaseSeconds: config.leaseSeconds)
    }

    deinit { authenticator?.stop() }

    static func now() -> Double { Date().timeIntervalSince1970 }

    public var progress: Progress {
        Progress(done: scheduler.done.count, total: plan.tasks.count, running: scheduler.leases.count,
                 failed: scheduler.failed.count, workers: workers.count)
    }

    /// Starts draining: no task is leased from now on, and each worker is told to finish its task
    /// within `grace` seconds or give it back. `serve` then returns once no lease is left (or the
    /// grace and ten seconds more have passed); the fragments on disk are what a rerun resumes from.
    public func stop(reason: String, grace: Double) {
        guard stopping == nil else { return }
        stopping = Stopping(reason: reason, since: Self.now(), grace: grace)
        logger.info("stopping (\(reason)): no new tasks; \(scheduler.leases.count) running tasks get \(Int(grace)) s to finish or are given back")
    }

    /// Serves until the plan is finished and every worker has been told to stop (or `idleExit`
    /// seconds pass with no worker at all once finished), or, once `stop` was called, until no task
    /// is leased. `tick` runs after every event; it may throw to stop serving. Throws when no
    /// worker has been connected for `config.noWorkerTimeout` seconds while work remains, or no
    /// connected worker can take what is left (its memory) for that long, at most two minutes
    /// (the fragments stay for a resume).
    public func serve(idleExit: Double = 5, tick: (Coordinator) throws -> Void = { _ in }) throws {
        // Workers that cannot hold what is left are told so soon: more memory rarely joins later.
        let starvedTimeout = min(config.noWorkerTimeout, 120)
        var finishedAt: Double?
        var lastWorker = Self.now(), lastPlaceable = Self.now()
        var rechecks = 0
        // Whose fault each failed task was stays beside the fragments, for `merge` and a rerun.
        defer {
            if !(config.output.isEmpty) && FileManager.default.fileExists(atPath: config.output + "/fragments") {
                try? TaskFailure.write(scheduler.failed.keys.compactMap { failures[$0] }, directory: config.output)
            }
        }
        var lastSweep = 0.0
        while true {
            if let frames = try socket.receive(timeout: 200) {
                handle(frames)
                // What else has arrived is answered before the housekeeping below, which walks every
                // lease and worker: with a thousand workers, per message it would cost more than the message.
                var more = 0
                while more < 10_000, let frames = try socket.receive(timeout: 0) {
                    handle(frames)
                    more += 1
                }
            }
            let now = Self.now()
            if now - lastSweep >= 0.05 {
                lastSweep = now
                scheduler.expire(now: now)
                for (id, w) in workers where now - w.seen > config.leaseSeconds * 2 {
                    logger.info("worker \(id) on \(w.host) silent for \(Int(now - w.seen)) s; forgotten")
                    scheduler.drop(worker: id)
                    workers[id] = nil
                }
            }
            for e in scheduler.drainEvents() { logger.info("\(e)") }
            try tick(self)
            if let stopping {
                // Idle workers get a moment to be told (their next request is answered shutdown).
                if scheduler.leases.isEmpty && (now - stopping.since > 1 || workers.isEmpty) { break }
                if now - stopping.since > stopping.grace + 10 { break }
                continue
            }
            if !workers.isEmpty { lastWorker = now }
            if scheduler.finished && finishedAt == nil, let current, rechecks < 3 {
                let checked = current()
                let onDisk = checked.done
                let stale = scheduler.done.subtracting(onDisk)
                ledger = stale.isEmpty ? checked : nil
                if !stale.isEmpty {
                    rechecks += 1
                    logger.info("\(stale.count) tasks read fragments that were made again with other bits; running them again")
                    scheduler = Scheduler(plan: plan, done: onDisk, maxAttempts: config.maxAttempts, leaseSeconds: config.leaseSeconds)
                    continue
                }
            }
            // Whether some working peer can take what is ready (a walk over every peer: at housekeeping pace).
            if !scheduler.leases.isEmpty {
                lastPlaceable = now
            } else if lastSweep == now {
                var anyWorking = false, anyPlaceable = false
                for w in workers.values where w.working {
                    anyWorking = true
                    if !w.starved { anyPlaceable = true; break }
                }
                if !anyWorking || anyPlaceable { lastPlaceable = now }
            }
            if scheduler.finished {
                finishedAt = finishedAt ?? now
                if !workers.values.contains(where: \.working) || now - finishedAt! > idleExit { break }
            } else if now - lastWorker > config.noWorkerTimeout {
                let last = workerErrors.last.map { "; the last worker error, from \($0.host): \($0.error)" } ?? ""
                let cut = health.cutOffLines.first.map { "; \($0)" } ?? ""
                throw SweepError("no worker connected for \(Int(config.noWorkerTimeout)) s (no_worker_timeout) with "
                    + "\(plan.tasks.count - scheduler.done.count) of \(plan.tasks.count) tasks left\(last)\(cut); "
                    + "the fragments stay in \(config.output)/fragments for a resume")
            } else if now - lastPlaceable > starvedTimeout {
                let why = Set(workers.values.filter(\.working).flatMap { $0.notGiven.values }).sorted().prefix(3).joined(separator: "; ")
                throw SweepError("for \(Int(starvedTimeout)) s no connected worker could take any "
                    + "of the \(scheduler.readyTasks.count) ready tasks: \(why); the fragments stay in \(config.output)/fragments for a resume")
            }
        }
    }

    /// One line per working peer: its id, host, CPU and memory, the checkpoint it holds, the task
    /// it runs, its last error, and the checkpoints it is not given and why.
    func workerList(now: Double) -> String {
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

    func reply(_ identity: [UInt8], _ message: Message) {
        do { try socket.send([identity, message.encode()]) } catch { logger.info("cannot answer a worker: \(error)") }
    }

    func handle(_ frames: [[UInt8]]) {
        guard frames.count == 2 else {
            logger.info("dropped a message of \(frames.count) frames (expected identity + one frame)")
            return
        }
        let identity = frames[0]
        let worker = String(decoding: identity, as: UTF8.self)
        guard frames[1].count <= Self.maxFrameBytes else {
            logger.info("dropped a frame of \(frames[1].count) bytes from \(worker.debugDescription) (limit \(Self.maxFrameBytes))")
            return
        }
        let message: Message
        do { message = try Message.decode(frames[1]) } catch {
            logger.info("dropped a malformed frame from \(worker.debugDescription): \(error)")
            return
        }
        let now = Self.now()
        // Only messages a worker sends make (or keep) it a worker, and only a bounded number of them.
        if [.hello, .request, .heartbeat, .done, .failed, .abandoned].contains(message.kind) {
            if workers[worker] != nil {
                workers[worker]!.seen = now
            } else if workers.count < Self.maxPeers {
                workers[worker] = Peer(held: nil, seen: now, host: "?")
            }
        }
        let held = message.body["held"].flatMap { checkpoints.contains($0) ? $0 : nil }
        let meta: Logger.Metadata = ["worker": "\(worker)"]
        switch message.kind {
        case .hello:
            guard workers[worker] != nil else { return }
            let host = String((message.body["host"] ?? "?").prefix(255))
            workers[worker]!.held = held
            workers[worker]!.host = host
            workers[worker]!.memory = message.body["memory_bytes"].flatMap(Int.init).map { max(0, $0) }
            workers[worker]!.cpu = String((message.body["cpu"] ?? "?").prefix(120))
            if let reason = health.reason(host) {
                workers[worker] = nil
                return reply(identity, Message(.shutdown, ["reason": reason]))
            }
            reply(identity, Message(.welcome, ["config_path": configPath, "config_text": config.text,
                                               "plan_digest": inputs.digest, "plan_components": planComponents]))
        case .request:
            guard let peer = workers[worker] else { return }
            workers[worker]!.held = held
            workers[worker]!.working = true
            if let stopping {
                return reply(identity, Message(.shutdown, ["reason": "the sweep is stopping (\(stopping.reason))"]))
            }
            if let reason = health.reason(peer.host) {
                workers[worker] = nil
                return reply(identity, Message(.shutdown, ["reason": reason]))
            }
            let memory = peer.memory
            let task = scheduler.assign(worker: worker, holding: held, now: now) { self.placement.refusal($0, memory: memory) == nil }
            // What it could not be given, and why, for `status` (one line per checkpoint).
            var notGiven: [String: String] = [:]
            var readyLeft = false
            for (checkpoint, queue) in scheduler.queues where !queue.isEmpty {
                readyLeft = true
                if let why = placement.refusal(checkpoint: checkpoint, memory: memory),
                   queue.members.contains(where: { Placement.loadsModel(plan.tasks[$0]) }) { notGiven[checkpoint] = why }
            }
            for (checkpoint, why) in notGiven where workers[worker]!.notGiven[checkpoint] == nil {
                logger.info("worker \(worker) on \(peer.host) is not given \(checkpoint)'s model tasks: \(why)")
            }
            workers[worker]!.notGiven = notGiven
            workers[worker]!.starved = task == nil && readyLeft
            if let task {
                reply(identity, Message(.task, ["task": task.id, "attempt": String(scheduler.attempts[task.id] ?? 1)]))
            } else if scheduler.finished {
                reply(identity, Message(.shutdown))
            } else {
                reply(identity, Message(.wait, ["milliseconds": "250"]))
            }
        case .heartbeat:
            guard workers[worker] != nil else { return }
            scheduler.heartbeat(worker: worker, task: message.body["task"], now: now)
            if let stopping {
                let left = max(0, stopping.grace - (now - stopping.since))
                reply(identity, Message(.stop, ["grace_seconds": String(format: "%.3f", left), "reason": stopping.reason]))
            } else {
                reply(identity, Message(.ack))
            }
        case .done:
            guard let id = message.body["task"] else { return logger.info("done without a task", metadata: meta) }
            // Only the lease holder speaks for a task; anyone else's report is ignored.
            guard scheduler.holds(worker, task: id) else {
                return logger.debug("ignored done for \(id) from a worker that does not hold its lease", metadata: meta)
            }
            busySeconds += min(Double(message.body["seconds"] ?? "0") ?? 0, now - started.timeIntervalSince1970)
            let host = workers[worker]?.host ?? "?"
            if verify(id) {
                scheduler.complete(task: id, worker: worker)
                health.succeeded(host: host, task: id)
                failures[id] = nil
            } else {
                taskFailed(worker, TaskFailure(task: id, code: .node, host: host,
                                               message: "reported done, but its fragment is missing, corrupt, or made from other inputs"))
            }
        case .failed:
            guard let id = message.body["task"] else { return logger.info("failure without a task", metadata: meta) }
            guard scheduler.holds(worker, task: id) else {
                return logger.debug("ignored a failure of \(id) from a worker that does not hold its lease", metadata: meta)
            }
            let error = String((message.body["error"] ?? "unknown error").prefix(4096))
            taskFailed(worker, TaskFailure(task: id, code: FailureCode(wire: message.body["code"]), host: workers[worker]?.host ?? "?",
                                           message: error))
        case .abandoned:
            guard let id = message.body["task"] else { return logger.info("abandoned without a task", metadata: meta) }
            let reason = String((message.body["reason"] ?? "stopped").prefix(300))
            if !scheduler.abandon(task: id, worker: worker, reason: reason) {
                logger.debug("ignored an abandoned \(id) from a worker that does not hold its lease", metadata: meta)
            }
        case .refused:
            let host = String((message.body["host"] ?? "?").prefix(255))
            let error = String((message.body["error"] ?? "unknown error").prefix(4096))
            logger.error("worker \(worker) on \(host) cannot work on this sweep: \(error)")
            workerErrors.append((worker, host, error))
            if workerErrors.count > 100 { workerErrors.removeFirst() }
            nodeFailed(worker, host: host, error: error)
            scheduler.drop(worker: worker)
            workers[worker] = nil
        case .bye:
            scheduler.drop(worker: worker)
            workers[worker] = nil
        case .status:
            let p = progress
            reply(identity, Message(.statusReply, [
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
            ]))
        case .welcome, .task, .wait, .shutdown, .ack, .stop, .statusReply:
            logger.info("dropped a \(message.kind) message from \(worker): only a coordinator sends those")
        }
    }
}

extension Coordinator {
    /// A failure on `host` that is not a task's (a worker could not start): kept as the worker's
    /// last error, and counted against the node, which is cut off when it keeps failing.
    func nodeFailed(_ worker: String, host: String, error: String) {
        workers[worker]?.lastError = error
        if health.failed(host: host, error: error), let reason = health.reason(host) { logger.error("\(reason)") }
    }

    /// A task's failure: counted against the node only when it is the node's (or its resources')
    /// fault, recorded under the code it was counted as, and the task retried or failed for good.
    func taskFailed(_ worker: String, _ failure: TaskFailure) {
        workers[worker]?.lastError = "\(failure.task): \(failure.message)"
        let (code, cutOff) = health.failed(failure)
        if cutOff, let reason = health.reason(failure.host) { logger.error("\(reason)") }
        failures[failure.task] = TaskFailure(task: failure.task, code: code, host: failure.host, message: failure.message)
        scheduler.fail(task: failure.task, worker: worker, error: "[\(code.rawValue)] \(failure.message)")
    }
}

/// What a run leaves beside its fragments so that `merge` and `status` work from the directory
/// alone: the config (path and text) and, while it runs, the coordinator's endpoint.
public enum RunRecord {
    public static func write(sweep: ResolvedSweep, endpoint: String) throws {
        let dir = sweep.config.output
        try FileManager.default.createDirectory(atPath: dir + "/fragments", withIntermediateDirectories: true)
        let record: [String: Any] = ["config_path": sweep.config.file, "config_text": sweep.config.text,
                                     "endpoint": endpoint, "pid": Int(getpid()), "host": Worker.nodeName()]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .prettyPrinted]), to: dir + "/run.json")
    }

    /// The config a run in `directory` used, its last coordinator's endpoint (as bound: a wildcard
    /// address stays), pid, and the node it ran on.
    public static func read(directory: String) throws -> (config: SweepConfig, endpoint: String?, pid: Int?, host: String?) {
        let path = directory + "/run.json"
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let file = json["config_path"] as? String, let text = json["config_text"] as? String else {
            throw SweepError("\(path): not found or unreadable — is \(directory) a sweep's output directory?")
        }
        return (try SweepConfig(text: text, file: file), json["endpoint"] as? String, json["pid"] as? Int, json["host"] as? String)
    }
}
