import Foundation
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

    public let config: SweepConfig
    public let plan: Plan
    public let socket: ZMQSocket
    public let endpoint: String
    public private(set) var scheduler: Scheduler
    var workers: [String: (held: String?, seen: Double)] = [:]
    let configPath: String
    let log: @Sendable (String) -> Void
    let started = Date()

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

    /// Decides whether a task reported done really is (default: its fragment verifies on disk).
    let verify: (String) -> Bool
    /// Seconds of task execution reported by workers, for utilisation.
    public private(set) var busySeconds = 0.0

    public convenience init(sweep: ResolvedSweep, bind: String, security: Security? = nil,
                            log: @escaping @Sendable (String) -> Void) throws {
        let fragments = sweep.config.output + "/fragments"
        try self.init(config: sweep.config, plan: sweep.plan, bind: bind, security: security, log: log) { id in
            Fragment.verify(fragments + "/" + Fragment.fileName(task: id))
        }
        try RunRecord.write(sweep: sweep, endpoint: endpoint)
    }

    public init(config: SweepConfig, plan: Plan, bind: String, security: Security? = nil,
                log: @escaping @Sendable (String) -> Void, verify: @escaping (String) -> Bool) throws {
        self.config = config
        self.plan = plan
        self.log = log
        self.verify = verify
        configPath = config.file
        let context = try ZMQContext()
        if let security {
            authenticator = try CurveAuthenticator(context: context, authorized: security.authorized, log: log)
            socket = try ZMQSocket(.router, context: context)
            try socket.makeCurveServer(secretKey: security.secretKey)
        } else {
            authenticator = nil
            socket = try ZMQSocket(.router, context: context)
        }
        endpoint = try socket.bind(bind)
        let ledger = Ledger(directory: config.output + "/fragments")
        for id in ledger.broken { log("fragment of \(id) is incomplete or corrupt; the task will run again") }
        scheduler = Scheduler(plan: plan, done: ledger.done, maxAttempts: config.maxAttempts,
                              leaseSeconds: config.leaseSeconds)
    }

    deinit { authenticator?.stop() }

    static func now() -> Double { Date().timeIntervalSince1970 }

    public var progress: Progress {
        Progress(done: scheduler.done.count, total: plan.tasks.count, running: scheduler.leases.count,
                 failed: scheduler.failed.count, workers: workers.count)
    }

    /// Serves until the plan is finished and every worker has been told to stop (or `idleExit`
    /// seconds pass with no worker at all once finished). `tick` runs after every event.
    public func serve(idleExit: Double = 5, tick: (Coordinator) -> Void = { _ in }) throws {
        var finishedAt: Double?
        while true {
            if let frames = try socket.receive(timeout: 200) { handle(frames) }
            let now = Self.now()
            scheduler.expire(now: now)
            for (id, w) in workers where now - w.seen > config.leaseSeconds * 2 {
                log("worker \(id) silent for \(Int(now - w.seen)) s; forgotten")
                scheduler.drop(worker: id)
                workers[id] = nil
            }
            for e in scheduler.drainEvents() { log(e) }
            tick(self)
            if scheduler.finished {
                finishedAt = finishedAt ?? now
                if workers.isEmpty || now - finishedAt! > idleExit { break }
            }
        }
    }

    func reply(_ identity: [UInt8], _ message: Message) {
        do { try socket.send([identity, message.encode()]) } catch { log("cannot answer a worker: \(error)") }
    }

    func handle(_ frames: [[UInt8]]) {
        guard frames.count == 2 else {
            log("dropped a message of \(frames.count) frames (expected identity + one frame)")
            return
        }
        let identity = frames[0]
        let worker = String(decoding: identity, as: UTF8.self)
        let message: Message
        do { message = try Message.decode(frames[1]) } catch {
            log("dropped a malformed frame from \(worker.debugDescription): \(error)")
            return
        }
        let now = Self.now()
        // Only messages a worker sends make (or keep) it a worker.
        if [.hello, .request, .heartbeat, .done, .failed].contains(message.kind) {
            workers[worker, default: (nil, now)].seen = now
        }
        switch message.kind {
        case .hello:
            workers[worker] = (message.body["held"], now)
            reply(identity, Message(.welcome, ["config_path": configPath, "config_text": config.text]))
        case .request:
            workers[worker]?.held = message.body["held"]
            if let task = scheduler.assign(worker: worker, holding: message.body["held"], now: now) {
                reply(identity, Message(.task, ["task": task.id, "attempt": String(scheduler.attempts[task.id] ?? 1)]))
            } else if scheduler.finished {
                reply(identity, Message(.shutdown))
            } else {
                reply(identity, Message(.wait, ["milliseconds": "250"]))
            }
        case .heartbeat:
            scheduler.heartbeat(worker: worker, task: message.body["task"], now: now)
        case .done:
            guard let id = message.body["task"] else { return log("done without a task from \(worker)") }
            busySeconds += Double(message.body["seconds"] ?? "0") ?? 0
            if verify(id) {
                scheduler.complete(task: id)
            } else {
                scheduler.fail(task: id, worker: worker, error: "reported done, but its fragment is missing or corrupt")
            }
        case .failed:
            guard let id = message.body["task"] else { return log("failure without a task from \(worker)") }
            scheduler.fail(task: id, worker: worker, error: message.body["error"] ?? "unknown error")
        case .bye:
            scheduler.drop(worker: worker)
            workers[worker] = nil
        case .status:
            let p = progress
            reply(identity, Message(.statusReply, [
                "done": String(p.done), "total": String(p.total), "running": String(p.running),
                "failed": String(p.failed), "workers": String(p.workers),
                "failures": scheduler.failed.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n"),
            ]))
        case .welcome, .task, .wait, .shutdown, .statusReply:
            log("dropped a \(message.kind) message from \(worker): only a coordinator sends those")
        }
    }
}

/// What a run leaves beside its fragments so that `merge` and `status` work from the directory
/// alone: the config (path and text) and, while it runs, the coordinator's endpoint.
public enum RunRecord {
    public static func write(sweep: ResolvedSweep, endpoint: String) throws {
        let dir = sweep.config.output
        try FileManager.default.createDirectory(atPath: dir + "/fragments", withIntermediateDirectories: true)
        let record: [String: Any] = ["config_path": sweep.config.file, "config_text": sweep.config.text,
                                     "endpoint": endpoint, "pid": Int(getpid())]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .prettyPrinted])
        let staging = dir + "/run.json.partial"
        try data.write(to: URL(fileURLWithPath: staging))
        guard rename(staging, dir + "/run.json") == 0 else { throw SweepError("\(dir)/run.json: cannot write") }
    }

    /// The config a run in `directory` used, and its last coordinator endpoint.
    public static func read(directory: String) throws -> (config: SweepConfig, endpoint: String?, pid: Int?) {
        let path = directory + "/run.json"
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let file = json["config_path"] as? String, let text = json["config_text"] as? String else {
            throw SweepError("\(path): not found or unreadable — is \(directory) a sweep's output directory?")
        }
        return (try SweepConfig(text: text, file: file), json["endpoint"] as? String, json["pid"] as? Int)
    }
}
