import Foundation
import Logging
import Store
import SweepCore
import SweepTransport

/// Hands out a sweep's tasks to workers (ZeroMQ ROUTER; workers are DEALERs that ask for work,
/// so the pattern is pull-based and a slow worker is never flooded). The decisions are
/// `CoordinatorState`'s, a pure state machine; this class drives it over a `CoordinatorChannel`
/// with the clock, logs what it says, and verifies fragments on disk. The coordinator keeps no
/// state that the fragments on disk do not also hold: restarted, it rebuilds the ledger and resumes.
public final class Coordinator {
    public typealias Progress = SweepProgress
    public typealias Stopping = CoordinatorState.Stopping

    public let config: SweepConfig
    public let plan: Plan
    public let inputs: PlanInputs
    public let channel: CoordinatorChannel
    public var endpoint: String { channel.endpoint }
    /// The decisions, and everything they are made from.
    public private(set) var state: CoordinatorState
    let logger: Logger
    /// The clock (seconds since 1970); tests inject their own.
    let clock: () -> Double

    /// Frames larger than this are refused by ZeroMQ before they reach the coordinator.
    public static let maxFrameBytes = CoordinatorState.maxFrameBytes
    /// At most this many peers are remembered at once; hellos beyond it are not.
    public static let maxPeers = CoordinatorState.maxPeers

    /// CURVE: the coordinator's secret key, and the public keys of the workers it accepts.
    public struct Security: Sendable {
        public let secretKey: String
        public let authorized: Set<String>
        public init(secretKey: String, authorized: Set<String>) {
            self.secretKey = secretKey
            self.authorized = authorized
        }
    }

    /// Decides whether a task reported done really is: its fragment verifies on disk and was made
    /// from the plan's inputs for the task.
    let verify: (String) -> Bool
    /// The tasks whose fragments are current on disk now (the ledger), checked once the plan looks
    /// finished: a task redone with other bits makes what read its old fragment stale.
    let current: (() -> Ledger)?
    /// The ledger of the last check that found everything the scheduler counts done current on
    /// disk (merge can start from it instead of reading every fragment again).
    public private(set) var ledger: Ledger?

    public var scheduler: Scheduler { state.scheduler }
    public var health: NodeHealth { state.health }
    public var failures: [String: TaskFailure] { state.failures }
    public var failureCounts: String { state.failureCounts }
    public var busySeconds: Double { state.busySeconds }
    public var stopping: Stopping? { state.stopping }
    public var placement: Placement { state.placement }
    public var progress: Progress { state.progress }
    public var workerErrors: [(worker: String, host: String, error: String)] { state.workerErrors }

    /// `nodeCutoff` (default: the config's `max_node_failures`): failures in a row after which a
    /// node gets no more work; 0 never (a local run, whose one node is the whole sweep).
    public convenience init(sweep: ResolvedSweep, bind: String, security: Security? = nil, nodeCutoff: Int? = nil,
                            logger: Logger = Logger(label: "coordinator")) throws {
        let store = sweep.fragments, expected = sweep.inputs
        // One cache of verified fragments for the whole run: a fragment is hashed when it is reported
        // done, and not again when the plan is checked at the end or merged.
        let cache = LedgerCache(store: store)
        let ledger = Ledger(store: store, plan: sweep.plan, inputs: sweep.inputs, cache: cache)
        for id in ledger.broken { logger.warning("fragment of \(id) is incomplete or corrupt; the task will run again") }
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

    /// The coordinator over any plan on a ZeroMQ socket bound to `bind`: `done` are the tasks
    /// already finished, `verify` decides whether a task reported done really is.
    public convenience init(config: SweepConfig, plan: Plan, inputs: PlanInputs, done: Set<String>, components: String, bind: String,
                            security: Security? = nil, placement: Placement = Placement(weightBytes: [:]), nodeCutoff: Int = 0,
                            logger: Logger = Logger(label: "coordinator"),
                            current: (() -> Ledger)? = nil, verify: @escaping (String) -> Bool) throws {
        let log: @Sendable (String) -> Void = { logger.info("\($0)") }
        let channel = try ZMQRouterChannel(bind: bind, secretKey: security?.secretKey, authorized: security?.authorized ?? [],
                                           maxFrameBytes: Self.maxFrameBytes, log: log)
        self.init(config: config, plan: plan, inputs: inputs, done: done, components: components, channel: channel,
                  placement: placement, nodeCutoff: nodeCutoff, logger: logger, current: current, verify: verify)
    }

    /// The coordinator over any channel (the in-memory one in tests and `bench sweep`) and clock.
    public init(config: SweepConfig, plan: Plan, inputs: PlanInputs, done: Set<String>, components: String,
                channel: CoordinatorChannel, placement: Placement = Placement(weightBytes: [:]), nodeCutoff: Int = 0,
                logger: Logger = Logger(label: "coordinator"), clock: @escaping () -> Double = { Date().timeIntervalSince1970 },
                current: (() -> Ledger)? = nil, verify: @escaping (String) -> Bool) {
        self.config = config
        self.plan = plan
        self.inputs = inputs
        self.channel = channel
        self.logger = logger
        self.clock = clock
        self.current = current
        self.verify = verify
        let settings = CoordinatorState.Settings(
            leaseSeconds: config.leaseSeconds, maxAttempts: config.maxAttempts, noWorkerTimeout: config.noWorkerTimeout,
            nodeCutoff: nodeCutoff, output: config.output,
            welcome: ["config_path": config.file, "config_text": config.text, "plan_digest": inputs.digest, "plan_components": components])
        state = CoordinatorState(plan: plan, done: done, settings: settings, checkpoints: Set(config.checkpoints.map(\.name)),
                                 placement: placement, now: clock())
    }

    /// Starts draining: no task is leased from now on, and each worker is told to finish its task
    /// within `grace` seconds or give it back. `serve` then returns once no lease is left (or the
    /// grace and ten seconds more have passed); the fragments on disk are what a rerun resumes from.
    public func stop(reason: String, grace: Double) {
        perform(state.stop(reason: reason, grace: grace, now: clock()))
    }

    /// Does what the state machine says: sends, logs, verifies (whose answer goes straight back).
    func perform(_ actions: [CoordinatorState.Action]) {
        for action in actions {
            switch action {
            case .reply(let peer, let message):
                do { try channel.send([peer, message.encode()]) } catch { logger.warning("cannot answer a worker: \(error)") }
            case .log(let level, let line):
                logger.log(level: level, "\(line)")
            case .verify(let task, let worker):
                perform(state.verified(task: task, worker: worker, ok: verify(task), now: clock()))
            }
        }
    }

    /// One message off the channel (`[identity, frame]`), handled now.
    public func handle(_ frames: [[UInt8]]) { perform(state.receive(frames, now: clock())) }

    /// Handles every message the channel holds now, then does the housekeeping (leases expired by
    /// the clock go back, silent workers are forgotten): one turn of `serve` without waiting, for
    /// tests that drive the coordinator with their own clock. Returns the messages handled.
    @discardableResult
    public func pump() throws -> Int {
        var handled = 0
        while let frames = try channel.receive(timeout: 0) {
            handle(frames)
            handled += 1
        }
        perform(state.housekeep(now: clock()))
        return handled
    }

    /// Serves until the plan is finished and every worker has been told to stop (or `idleExit`
    /// seconds pass with no worker at all once finished), or, once `stop` was called, until no task
    /// is leased. `tick` runs after every event; it may throw to stop serving. Throws when no
    /// worker has been connected for `config.noWorkerTimeout` seconds while work remains, or no
    /// connected worker can take what is left (its memory) for that long, at most two minutes
    /// (the fragments stay for a resume).
    public func serve(idleExit: Double = 5, tick: (Coordinator) throws -> Void = { _ in }) throws {
        // Whose fault each failed task was stays beside the fragments, for `merge` and a rerun.
        defer {
            if !(config.output.isEmpty) && FileManager.default.fileExists(atPath: config.output + "/fragments") {
                try? TaskFailure.write(state.scheduler.failed.keys.compactMap { state.failures[$0] }, directory: config.output)
            }
        }
        var lastSweep = -Double.infinity
        while true {
            if let frames = try channel.receive(timeout: 200) {
                handle(frames)
                // What else has arrived is answered before the housekeeping below, which walks every
                // lease and worker: with a thousand workers, per message it would cost more than the message.
                var more = 0
                while more < 10_000, let frames = try channel.receive(timeout: 0) {
                    handle(frames)
                    more += 1
                }
            }
            let now = clock()
            if now - lastSweep >= 0.05 {
                lastSweep = now
                perform(state.housekeep(now: now))
            }
            try tick(self)
            switch state.poll(now: now, idleExit: idleExit) {
            case .running: continue
            case .finished:
                perform(state.events())
                return
            case .gaveUp(let error):
                perform(state.events())
                throw SweepError(error)
            case .recheck:
                if let current {
                    let checked = current()
                    let actions = state.rechecked(onDisk: checked.done)
                    ledger = actions.isEmpty ? checked : nil
                    perform(actions)
                } else {
                    perform(state.rechecked(onDisk: state.scheduler.done))
                }
            }
        }
    }

    /// One line per working peer (see `CoordinatorState.workerList`).
    func workerList(now: Double) -> String { state.workerList(now: now) }
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
