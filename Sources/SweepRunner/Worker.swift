import Foundation
import Kernels
import Logging
import Models
import SweepCore
import SweepTransport

/// A worker process: asks the coordinator for work, runs each task on a background thread while
/// its main thread heartbeats, and reports done (fragment written) or failed (with the error).
public final class Worker {
    public struct Keys: Sendable {
        public let publicKey: String, secretKey: String, serverKey: String
        public init(publicKey: String, secretKey: String, serverKey: String) {
            self.publicKey = publicKey
            self.secretKey = secretKey
            self.serverKey = serverKey
        }
    }

    let socket: ZMQSocket
    let identity: String
    /// This node's name: Slurm's node name when Slurm started the worker, else the host name.
    let host = Worker.nodeName()
    var logger: Logger
    /// Seconds without any answer from the coordinator before giving up.
    let patience: Double
    /// Seconds a stopped worker (signal, or the coordinator draining) gives its current task to
    /// finish before it hands the task back unfinished.
    let grace: Double
    /// The signal that asked this worker to stop, if any (SIGTERM: Slurm's preemption, requeue or
    /// time limit; SIGUSR1: a `--signal` warning).
    let stopSignal: () -> Int32?
    /// What this worker tells the coordinator it may use, in bytes (nil: unknown).
    let memory: Int?

    public init(connect endpoint: String, keys: Keys? = nil, patience: Double = 60, grace: Double = 30,
                stopSignal: @escaping () -> Int32? = { nil }, memory: Int? = Worker.memoryLimit(),
                logger: Logger = Logger(label: "worker")) throws {
        socket = try ZMQSocket(.dealer)
        identity = "\(Worker.nodeName()):\(getpid())"
        try socket.setIdentity(identity)
        if let keys { try socket.makeCurveClient(publicKey: keys.publicKey, secretKey: keys.secretKey, serverKey: keys.serverKey) }
        try socket.connect(endpoint)
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(identity)"
        self.patience = patience
        self.grace = grace
        self.stopSignal = stopSignal
        self.memory = memory
    }

    /// Slurm's name for this node (`SLURMD_NODENAME`) when set, else the host name.
    public static func nodeName(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let name = environment["SLURMD_NODENAME"], !name.isEmpty { return name }
        return ProcessInfo.processInfo.hostName
    }

    /// The memory this worker may use: `XLSWEEP_MEMORY` (bytes, or with a K, M, G or T suffix)
    /// when set, else what is available now (MemAvailable, capped by a cgroup limit).
    public static func memoryLimit(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        if let text = environment["XLSWEEP_MEMORY"], let bytes = parseBytes(text) { return bytes }
        return MemoryInfo.availableBytes()
    }

    /// `12345`, `512M`, `1.5G`, `2T` (binary multiples) → bytes; nil when not a size.
    public static func parseBytes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
        var number = Substring(t), scale = 1.0
        if let last = t.last, let u = units[last] { number = t.dropLast(); scale = u }
        if number.hasSuffix("I") || number.hasSuffix("B") { return nil }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 9e18 else { return nil }
        return Int(value * scale)
    }

    func send(_ m: Message) throws { try socket.send([m.encode()]) }

    /// The next message, skipping (and logging) malformed ones; nil after `patience` seconds. A
    /// stop signal received while waiting answers as a `shutdown` would.
    func next() throws -> Message? {
        let deadline = Date().addingTimeInterval(patience)
        while Date() < deadline {
            if let s = stopSignal() { return Message(.shutdown, ["reason": "stopped by \(StopSignals.name(s))"]) }
            guard let frames = try socket.receive(timeout: 200) else { continue }
            guard frames.count == 1 else { logger.info("dropped a message of \(frames.count) frames"); continue }
            do {
                let m = try Message.decode(frames[0])
                if m.kind == .ack || m.kind == .stop { continue }   // late answers to heartbeats: not answers to this request
                return m
            } catch { logger.info("dropped a malformed frame: \(error)") }
        }
        return nil
    }

    /// How a task ended on this worker.
    enum Outcome {
        case done
        case failed(String, FailureCode)
        /// Given back unfinished because the worker was stopped.
        case abandoned
    }

    /// Serves until the coordinator says shutdown, or the worker is stopped. Returns the number of
    /// tasks run.
    @discardableResult
    public func run() throws -> Int {
        var hello = ["pid": String(getpid()), "host": host, "cpu": "\(KernelPath.active)"]
        if let memory { hello["memory_bytes"] = String(memory) }
        try send(Message(.hello, hello))
        guard let welcome = try next() else {
            throw SweepError("no welcome from the coordinator within \(Int(patience)) s (wrong address, or keys refused?)")
        }
        if welcome.kind == .shutdown {
            if stopSignal() != nil { return 0 }
            throw SweepError("the coordinator gives this worker no work: \(welcome.body["reason"] ?? "no reason given")")
        }
        guard welcome.kind == .welcome, let path = welcome.body["config_path"], let text = welcome.body["config_text"] else {
            throw SweepError("the coordinator answered hello with a \(welcome.kind) message, not a welcome")
        }
        // Derive the plan here, from this node's files, and refuse (telling the coordinator why)
        // when it cannot be derived or is not the coordinator's.
        let sweep: ResolvedSweep
        do {
            sweep = try ResolvedSweep(try SweepConfig(text: text, file: path))
            let theirs = try PlanComponents(json: welcome.body["plan_components"] ?? "{}")
            let differences = PlanComponents(sweep).differences(from: theirs, here: "on \(host)")
            guard differences.isEmpty else {
                throw SweepError("this node derives another plan than the coordinator's: " + differences.joined(separator: "; "))
            }
        } catch {
            try? send(Message(.refused, ["error": String(String(describing: error).prefix(4000)), "host": host]))
            usleep(200_000)   // let the refusal leave before the socket closes
            throw error
        }
        let runner = try TaskRunner(sweep: sweep)
        runner.logger = logger
        let tasks = Dictionary(uniqueKeysWithValues: sweep.plan.tasks.map { ($0.id, $0) })
        var count = 0
        func leave(_ why: String) throws -> Int {
            logger.info("stopping (\(why)) after \(count) tasks")
            try send(Message(.bye))
            usleep(100_000)   // let the goodbye leave before the socket closes
            return count
        }
        while true {
            if let s = stopSignal() { return try leave("stopped by \(StopSignals.name(s))") }
            try send(Message(.request, runner.heldCheckpoint.map { ["held": $0] } ?? [:]))
            guard let m = try next() else { throw SweepError("the coordinator stopped answering for \(Int(patience)) s") }
            switch m.kind {
            case .task:
                guard let id = m.body["task"], let task = tasks[id] else {
                    logger.info("ignored an unknown task \(m.body["task"] ?? "?")")
                    continue
                }
                runner.placement = (host, identity, Int(m.body["attempt"] ?? "1") ?? 1)
                let started = Date()
                let (outcome, stopped) = try execute(task, runner: runner)
                let seconds = String(format: "%.6f", Date().timeIntervalSince(started))
                switch outcome {
                case .failed(let error, let code):
                    logger.warning("task \(id) failed (\(code.rawValue)): \(error)", metadata: ["task": "\(id)"])
                    try send(Message(.failed, ["task": id, "error": String(error.prefix(4000)), "code": code.rawValue]))
                case .done:
                    try send(Message(.done, ["task": id, "seconds": seconds]))
                    count += 1
                case .abandoned:
                    try send(Message(.abandoned, ["task": id, "reason": stopped ?? "stopped"]))
                }
                if let stopped { return try leave(stopped) }
            case .wait:
                usleep(UInt32(min(5000, Int(m.body["milliseconds"] ?? "250") ?? 250)) * 1000)
            case .shutdown:
                if let reason = m.body["reason"] { return try leave(reason) }
                try send(Message(.bye))
                return count
            default:
                logger.info("ignored a \(m.kind) message")
            }
        }
    }

    /// Runs the task on a background thread, heartbeating every second. Once the worker is stopped
    /// (a signal, or the coordinator's `stop`), the task gets `grace` seconds (or what the
    /// coordinator has left) to finish, else it is abandoned: the process is about to exit, and an
    /// unfinished fragment is never renamed into place. Returns how it ended, and why the worker
    /// stopped if it did.
    func execute(_ task: SweepTask, runner: TaskRunner) throws -> (Outcome, stopped: String?) {
        final class Box: @unchecked Sendable {
            var error: (String, FailureCode)?
            var finished = false
            let lock = NSLock()
        }
        let box = Box()
        nonisolated(unsafe) let unsafeRunner = runner
        let thread = Thread {
            var failure: (String, FailureCode)?
            do { try unsafeRunner.run(task) } catch { failure = (String(describing: error), FailureCode.of(error)) }
            box.lock.lock()
            box.error = failure
            box.finished = true
            box.lock.unlock()
        }
        thread.stackSize = 16 << 20
        thread.start()
        var lastBeat = Date(), lastHeard = Date()
        var stop: (reason: String, deadline: Date)?
        func stopping(_ reason: String, within seconds: Double) {
            let deadline = Date().addingTimeInterval(max(0, seconds))
            if stop == nil {
                logger.info("\(reason): task \(task.id) gets \(String(format: "%.0f", max(0, seconds))) s to finish, else it is given back",
                            metadata: ["task": "\(task.id)"])
            }
            if stop == nil || deadline < stop!.deadline { stop = (stop?.reason ?? reason, deadline) }
        }
        while true {
            box.lock.lock()
            let finished = box.finished, error = box.error
            box.lock.unlock()
            if finished { return (error.map { Outcome.failed($0.0, $0.1) } ?? .done, stop?.reason) }
            if stop == nil, let s = stopSignal() { stopping("stopped by \(StopSignals.name(s))", within: grace) }
            if let stop, Date() >= stop.deadline { return (.abandoned, stop.reason) }
            // The coordinator answers every heartbeat; silence for `patience` seconds means it is
            // gone, and a worker does not outlive its sweep: it stops (its lease will expire).
            if let frames = try socket.receive(timeout: 20), frames.count == 1, let m = try? Message.decode(frames[0]) {
                if m.kind == .ack { lastHeard = Date() }
                if m.kind == .stop {
                    lastHeard = Date()
                    let left = m.body["grace_seconds"].flatMap(Double.init) ?? grace
                    stopping("the sweep is stopping (\(m.body["reason"] ?? "?"))", within: min(grace, left))
                }
            }
            if Date().timeIntervalSince(lastHeard) > patience {
                throw SweepError("the coordinator answered no heartbeat for \(Int(patience)) s (gone?); "
                    + "stopping, with task \(task.id) unfinished")
            }
            if Date().timeIntervalSince(lastBeat) >= 1 {
                try send(Message(.heartbeat, ["task": task.id]))
                lastBeat = Date()
            }
        }
    }
}
