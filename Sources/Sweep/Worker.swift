import Foundation
import Logging

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
    let host = ProcessInfo.processInfo.hostName
    var logger: Logger
    /// Seconds without any answer from the coordinator before giving up.
    let patience: Double

    public init(connect endpoint: String, keys: Keys? = nil, patience: Double = 60, logger: Logger = Logger(label: "worker")) throws {
        socket = try ZMQSocket(.dealer)
        identity = "\(ProcessInfo.processInfo.hostName):\(getpid())"
        try socket.setIdentity(identity)
        if let keys { try socket.makeCurveClient(publicKey: keys.publicKey, secretKey: keys.secretKey, serverKey: keys.serverKey) }
        try socket.connect(endpoint)
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(identity)"
        self.patience = patience
    }

    func send(_ m: Message) throws { try socket.send([m.encode()]) }

    /// The next message, skipping (and logging) malformed ones; nil after `patience` seconds.
    func next() throws -> Message? {
        let deadline = Date().addingTimeInterval(patience)
        while Date() < deadline {
            guard let frames = try socket.receive(timeout: 500) else { continue }
            guard frames.count == 1 else { logger.info("dropped a message of \(frames.count) frames"); continue }
            do {
                let m = try Message.decode(frames[0])
                if m.kind == .ack { continue }   // a late answer to a heartbeat: not an answer to this request
                return m
            } catch { logger.info("dropped a malformed frame: \(error)") }
        }
        return nil
    }

    /// Serves until the coordinator says shutdown. Returns the number of tasks run.
    @discardableResult
    public func run() throws -> Int {
        try send(Message(.hello, ["pid": String(getpid()), "host": host]))
        guard let welcome = try next(), welcome.kind == .welcome,
              let path = welcome.body["config_path"], let text = welcome.body["config_text"] else {
            throw SweepError("no welcome from the coordinator within \(Int(patience)) s (wrong address, or keys refused?)")
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
        while true {
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
                let outcome = try execute(task, runner: runner)
                let seconds = String(format: "%.6f", Date().timeIntervalSince(started))
                if let error = outcome {
                    logger.info("task \(id) failed: \(error)", metadata: ["task": "\(id)"])
                    try send(Message(.failed, ["task": id, "error": String(error.prefix(4000))]))
                } else {
                    try send(Message(.done, ["task": id, "seconds": seconds]))
                    count += 1
                }
            case .wait:
                usleep(UInt32(min(5000, Int(m.body["milliseconds"] ?? "250") ?? 250)) * 1000)
            case .shutdown:
                try send(Message(.bye))
                return count
            default:
                logger.info("ignored a \(m.kind) message")
            }
        }
    }

    /// Runs the task on a background thread, heartbeating every second; returns its error text.
    func execute(_ task: SweepTask, runner: TaskRunner) throws -> String? {
        final class Box: @unchecked Sendable {
            var error: String?
            var finished = false
            let lock = NSLock()
        }
        let box = Box()
        nonisolated(unsafe) let unsafeRunner = runner
        let thread = Thread {
            var failure: String?
            do { try unsafeRunner.run(task) } catch { failure = String(describing: error) }
            box.lock.lock()
            box.error = failure
            box.finished = true
            box.lock.unlock()
        }
        thread.stackSize = 16 << 20
        thread.start()
        var lastBeat = Date(), lastHeard = Date()
        while true {
            box.lock.lock()
            let finished = box.finished
            box.lock.unlock()
            if finished { break }
            // The coordinator answers every heartbeat; silence for `patience` seconds means it is
            // gone, and a worker does not outlive its sweep: it stops (its lease will expire).
            if let frames = try socket.receive(timeout: 20) {
                if frames.count == 1, let m = try? Message.decode(frames[0]), m.kind == .ack { lastHeard = Date() }
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
        return box.error
    }
}
