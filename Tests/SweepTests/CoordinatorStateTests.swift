import Foundation
import Logging
import TestSupport
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// The coordinator's decisions, tested as a pure state machine with an injected clock: no socket,
/// no file, no waiting. What arrives is raw frames, as a ROUTER socket hands them over, so forged
/// and malformed input goes through the same path as in a real run.
final class CoordinatorStateTests: XCTestCase {
    let plan = Plan(checkpoints: ["a"], languages: ["en", "es"], layers: ["a": 1], concepts: ["joy"], generation: false)

    func machine(lease: Double = 30, attempts: Int = 3, timeout: Double = 600, cutoff: Int = 3, done: Set<String> = []) -> CoordinatorState {
        CoordinatorState(plan: plan, done: done,
                         settings: .init(leaseSeconds: lease, maxAttempts: attempts, noWorkerTimeout: timeout, nodeCutoff: cutoff,
                                         output: "/nowhere", welcome: ["plan_digest": "sha256:test"]),
                         checkpoints: ["a"], now: 1000)
    }

    func frame(_ worker: String, _ kind: Message.Kind, _ body: [String: String] = [:]) -> [[UInt8]] {
        [Array(worker.utf8), Message(kind, body).encode()]
    }

    /// The replies among `actions`, decoded.
    func replies(_ actions: [CoordinatorState.Action]) -> [(String, Message)] {
        actions.compactMap { if case .reply(let p, let m) = $0 { return (String(decoding: p, as: UTF8.self), m) } else { return nil } }
    }

    /// Runs a worker's whole conversation against the machine until it is told to shut down,
    /// answering every verify with `ok`; returns the tasks it was given.
    @discardableResult
    func work(_ s: inout CoordinatorState, _ worker: String, now: Double, host: String = "h1", ok: Bool = true, limit: Int = 100) -> [String] {
        var given: [String] = []
        _ = s.receive(frame(worker, .hello, ["host": host]), now: now)
        for _ in 0..<limit {
            let answer = replies(s.receive(frame(worker, .request), now: now))
            guard let (_, m) = answer.first else { XCTFail("no answer to a request"); break }
            if m.kind == .shutdown { break }
            if m.kind == .wait { break }
            XCTAssertEqual(m.kind, .task)
            let id = m.body["task"]!
            given.append(id)
            let actions = s.receive(frame(worker, .done, ["task": id, "seconds": "1"]), now: now)
            XCTAssertEqual(actions, [.verify(task: id, worker: worker)])
            XCTAssertEqual(s.verified(task: id, worker: worker, ok: ok, now: now), [])
        }
        return given
    }

    func testAWorkerRunsThePlanToTheEndAndTheDiskIsCheckedBeforeItIsBelieved() {
        var s = machine()
        let welcome = replies(s.receive(frame("w1", .hello, ["host": "h1"]), now: 1000))
        XCTAssertEqual(welcome.first?.1, Message(.welcome, ["plan_digest": "sha256:test"]))
        let given = work(&s, "w1", now: 1001)
        XCTAssertEqual(Set(given), Set(plan.tasks.map(\.id)))
        // Dependencies first: both extractions before any probe or expertise.
        XCTAssertTrue(given.prefix(2).allSatisfy { $0.hasPrefix("extract/") }, "\(given)")
        // Finished as the scheduler counts it, but the worker is not let go before the disk agrees.
        XCTAssertEqual(replies(s.receive(frame("w1", .request), now: 1001.5)).first?.1.kind, .wait)
        XCTAssertEqual(s.poll(now: 1002, idleExit: 5), .recheck)
        // The disk says one fragment was made again: it and what read it run again, on the worker still there.
        let log = s.rechecked(onDisk: Set(plan.tasks.map(\.id)).subtracting(["probe/a/0"]))
        XCTAssertEqual(log.count, 1)
        XCTAssertEqual(s.poll(now: 1002, idleExit: 5), .running)
        XCTAssertEqual(work(&s, "w1", now: 1003), ["probe/a/0"])
        XCTAssertEqual(s.poll(now: 1004, idleExit: 5), .recheck)
        XCTAssertEqual(s.rechecked(onDisk: Set(plan.tasks.map(\.id))), [])
        XCTAssertEqual(replies(s.receive(frame("w1", .request), now: 1004)).first?.1.kind, .shutdown)
        _ = s.receive(frame("w1", .bye), now: 1004)
        // Told to leave, it said bye: no working peer is left to wait for.
        XCTAssertEqual(s.poll(now: 1004, idleExit: 5), .finished)
        XCTAssertEqual(s.busySeconds, Double(plan.tasks.count + 1))
    }

    func testAnExpiredLeaseGoesToAnotherWorkerAndTheLateReportIsIgnored() {
        var s = machine(lease: 30)
        _ = s.receive(frame("slow", .hello), now: 1000)
        guard case .task = replies(s.receive(frame("slow", .request), now: 1000))[0].1.kind else { return XCTFail("no task") }
        let first = s.scheduler.leases.keys.first!
        // Heartbeats keep the lease.
        _ = s.receive(frame("slow", .heartbeat, ["task": first]), now: 1025)
        _ = s.housekeep(now: 1040)
        XCTAssertNotNil(s.scheduler.leases[first])
        // Silence past the lease: expired, back in the queue, given to the next worker.
        let logs = s.housekeep(now: 1056)
        XCTAssertNil(s.scheduler.leases[first])
        XCTAssertTrue(logs.contains { if case .log(_, let l) = $0 { return l.contains(first) } else { return false } }, "\(logs)")
        _ = s.receive(frame("fast", .hello), now: 1057)
        XCTAssertEqual(replies(s.receive(frame("fast", .request), now: 1057))[0].1.body["task"], first)
        XCTAssertEqual(s.scheduler.attempts[first], 2)
        // The first worker's late report is not the lease holder's: ignored, nothing to verify.
        let late = s.receive(frame("slow", .done, ["task": first]), now: 1058)
        XCTAssertFalse(late.contains { if case .verify = $0 { return true } else { return false } }, "\(late)")
        // Silent for two lease periods: forgotten.
        _ = s.housekeep(now: 1058 + 61)
        XCTAssertNil(s.workers["slow"])
    }

    func testNoWorkerForTooLongGivesUpWithTheLastWorkerError() {
        var s = machine(timeout: 60)
        XCTAssertEqual(s.poll(now: 1030, idleExit: 5), .running)
        _ = s.receive(frame("w", .refused, ["host": "h9", "error": "cannot read the data set"]), now: 1031)
        guard case .gaveUp(let why) = s.poll(now: 1061, idleExit: 5) else { return XCTFail("did not give up") }
        XCTAssertTrue(why.contains("no worker connected for 60 s") && why.contains("from h9: cannot read the data set"), why)
    }

    /// Deterministic task failures (`input`) never cut a node off; failed starts (`refused`) do.
    func testTaskFaultsDoNotCountAgainstTheNodeButFailedStartsDo() {
        var s = machine(attempts: 5, cutoff: 3)
        _ = s.receive(frame("w", .hello, ["host": "good"]), now: 1000)
        for _ in 0..<4 {
            let task = replies(s.receive(frame("w", .request), now: 1000))[0].1
            XCTAssertEqual(task.kind, .task)
            _ = s.receive(frame("w", .failed, ["task": task.body["task"]!, "code": "input", "error": "no bos_token_id"]), now: 1000)
        }
        XCTAssertFalse(s.health.isCutOff("good"))
        for i in 0..<3 { _ = s.receive(frame("r\(i)", .refused, ["host": "bad", "error": "no such file: data/en.jsonl"]), now: 1000) }
        XCTAssertTrue(s.health.isCutOff("bad"))
        let answer = replies(s.receive(frame("r9", .hello, ["host": "bad"]), now: 1001))
        XCTAssertEqual(answer.first?.1.kind, .shutdown)
    }

    func testStoppingLeasesNothingAndEndsWhenNoLeaseIsLeft() {
        var s = machine()
        _ = s.receive(frame("w", .hello), now: 1000)
        let task = replies(s.receive(frame("w", .request), now: 1000))[0].1.body["task"]!
        XCTAssertEqual(s.stop(reason: "SIGTERM", grace: 20, now: 1001).count, 1)
        XCTAssertEqual(replies(s.receive(frame("w", .heartbeat, ["task": task]), now: 1002))[0].1.kind, .stop)
        XCTAssertEqual(replies(s.receive(frame("w2", .request), now: 1002))[0].1.kind, .shutdown)
        XCTAssertEqual(s.poll(now: 1003, idleExit: 5), .running)
        _ = s.receive(frame("w", .abandoned, ["task": task, "reason": "SIGTERM"]), now: 1004)
        XCTAssertEqual(s.poll(now: 1005, idleExit: 5), .finished)
        XCTAssertFalse(s.scheduler.done.contains(task))
    }

    /// Forged and malformed frames — random bytes, truncated and bit-flipped messages, wrong frame
    /// counts, coordinator-only kinds, reports for tasks the sender does not hold, hostile bodies —
    /// never crash the machine, never complete a task, never lease to a peer that did not ask; and
    /// an honest worker still finishes the plan afterwards.
    func testFuzzedFramesNeverCompleteATaskAndAnHonestWorkerStillFinishes() {
        var s = machine(lease: 1e9)
        var rng = SplitMixForTests(seed: 42)
        let ids = plan.tasks.map(\.id)
        let kinds: [Message.Kind] = [.hello, .request, .heartbeat, .done, .failed, .bye, .refused, .abandoned, .welcome, .task,
                                     .wait, .shutdown, .ack, .stop, .status, .statusReply]
        // A bystander holds a lease the fuzz must not be able to take over.
        _ = s.receive(frame("holder", .hello), now: 1000)
        let held = replies(s.receive(frame("holder", .request), now: 1000))[0].1.body["task"]!
        var verifies = 0
        for i in 0..<8_000 {
            var frames: [[UInt8]]
            let peer = Array("fz\(rng.next() % 50)".utf8)
            switch i % 6 {
            case 0:   // random bytes
                frames = [peer, (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }]
            case 1:   // a valid message, one byte flipped
                var f = Message(kinds[Int(rng.next() % UInt64(kinds.count))], ["task": ids[Int(rng.next() % UInt64(ids.count))]]).encode()
                f[Int(rng.next() % UInt64(f.count))] ^= UInt8(1 << (rng.next() % 8))
                frames = [peer, f]
            case 2:   // a valid message, truncated or extended
                var f = Message(.done, ["task": held]).encode()
                if rng.next() % 2 == 0 { f.removeLast(Int(rng.next() % UInt64(f.count))) } else { f += [0, 1, 2] }
                frames = [peer, f]
            case 3:   // wrong number of frames
                frames = Array(repeating: Message(.request).encode(), count: Int(rng.next() % 4)).map { $0 }
                if frames.count == 2 { frames.append([]) }
            case 4:   // well-formed, forged: reports for the held task from others, coordinator-only kinds
                let kind: Message.Kind = [.done, .failed, .abandoned, .task, .welcome, .shutdown][Int(rng.next() % 6)]
                frames = [peer, Message(kind, ["task": held, "error": "forged", "code": "node", "seconds": "-1e300"]).encode()]
            default:  // hostile bodies
                let big = String(repeating: "x", count: Int(rng.next() % 5000))
                frames = [peer, Message(.hello, ["host": big, "memory_bytes": "-5", "cpu": big, "held": "../../etc"]).encode()]
            }
            for action in s.receive(frames, now: 1000 + Double(i) * 1e-3) {
                if case .verify(let task, let worker) = action {
                    verifies += 1
                    // Only a real lease holder's report reaches verification.
                    XCTAssertTrue(s.scheduler.holds(worker, task: task), "\(worker) \(task)")
                    _ = s.verified(task: task, worker: worker, ok: false, now: 1000)
                }
            }
            XCTAssertLessThanOrEqual(s.workers.count, CoordinatorState.maxPeers)
        }
        XCTAssertTrue(s.scheduler.done.isEmpty, "forged reports completed \(s.scheduler.done)")
        XCTAssertEqual(s.scheduler.leases[held]?.worker, "holder")
        XCTAssertGreaterThanOrEqual(s.busySeconds, 0)
        // The honest holder finishes its task, then an honest worker runs everything else.
        _ = s.receive(frame("holder", .done, ["task": held]), now: 2000)
        _ = s.verified(task: held, worker: "holder", ok: true, now: 2000)
        for id in s.scheduler.leases.keys.sorted() { _ = s.receive(frame(s.scheduler.leases[id]!.worker, .bye), now: 2000) }
        work(&s, "honest", now: 2001, limit: 1000)
        XCTAssertEqual(s.scheduler.done.count + s.scheduler.failed.count, plan.tasks.count, "verifies: \(verifies)")
        XCTAssertTrue(s.scheduler.finished)
    }

    /// The same coordinator, driven by `serve` over the in-memory channel with simulated workers on
    /// other threads: every task done, each once.
    func testServeOverTheInMemoryChannel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-inmemory-\(getpid())").path
        let config = try SweepConfig(text: "output: \(dir)\ndata: \(dir)\nlanguages: [en, es]\ncheckpoints: [{name: a, path: \(dir)}]\n",
                                     file: dir + "/c.yaml")
        let inputs = PlanInputs(plan: plan, config: config, concepts: ["joy"], fingerprints: SweepFingerprints(data: [:], lexicon: "none", checkpoints: [:]))
        let channel = InMemoryChannel()
        let lock = NSLock()
        var completed: [String] = []
        let coordinator = Coordinator(config: config, plan: plan, inputs: inputs, done: [], components: "{}", channel: channel) { id in
            lock.lock(); completed.append(id); lock.unlock()
            return true
        }
        let group = DispatchGroup()
        for w in 0..<3 {
            let peer = channel.connect(identity: "mem\(w)")
            group.enter()
            Thread {
                defer { group.leave() }
                try? peer.send(Message(.hello, ["host": "memory"]).encode())
                _ = try? peer.receive(timeout: 5000)
                for _ in 0..<200 {
                    try? peer.send(Message(.request).encode())
                    guard let f = try? peer.receive(timeout: 5000), let m = try? Message.decode(f) else { return }
                    if m.kind == .shutdown { return }
                    if m.kind == .wait { usleep(2000); continue }
                    try? peer.send(Message(.done, ["task": m.body["task"]!, "seconds": "0"]).encode())
                }
            }.start()
        }
        try coordinator.serve(idleExit: 2)
        group.wait()
        XCTAssertEqual(completed.sorted(), plan.tasks.map(\.id).sorted())
        XCTAssertEqual(coordinator.progress.done, plan.tasks.count)
    }
}

/// The coordinator itself (the driver, not only its state machine) over the in-memory channel,
/// with an injected clock: peers' frames go in through the channel, replies come back through it,
/// time moves only when the test moves it.
final class InMemoryCoordinatorTests: XCTestCase {
    final class Clock: @unchecked Sendable { var now = 5000.0 }

    func testLeasesExpireByTheInjectedClockAndForgedFramesThroughTheChannelChangeNothing() throws {
        let plan = Plan(checkpoints: ["a"], languages: ["en", "es"], layers: ["a": 1], concepts: ["joy"], generation: false)
        let dir = try TestSupport.scratch(self)
        let config = try SweepConfig(text: "output: \(dir)/out\ndata: \(dir)\nlanguages: [en, es]\ncheckpoints: [{name: a, path: \(dir)}]\n"
                                     + "lease_seconds: 10\n", file: dir + "/c.yaml")
        let inputs = PlanInputs(plan: plan, config: config, concepts: ["joy"], fingerprints: SweepFingerprints(data: [:], lexicon: "none", checkpoints: [:]))
        let channel = InMemoryChannel(), clock = Clock()
        var verified: [String] = []
        var quiet = Logger(label: "coordinator")
        quiet.logLevel = .critical   // 500 dropped frames would be 500 warnings
        let coordinator = Coordinator(config: config, plan: plan, inputs: inputs, done: [], components: "{}", channel: channel,
                                      logger: quiet, clock: { clock.now }) { verified.append($0); return true }
        let slow = channel.connect(identity: "slow"), fast = channel.connect(identity: "fast")
        func ask(_ peer: InMemoryPeer, _ kind: Message.Kind, _ body: [String: String] = [:]) throws -> Message? {
            try peer.send(Message(kind, body).encode())
            try coordinator.pump()
            return try peer.receive(timeout: 0).map { try Message.decode($0) }
        }
        XCTAssertEqual(try ask(slow, .hello, ["host": "h1"])?.kind, .welcome)
        let first = try XCTUnwrap(try ask(slow, .request)?.body["task"])
        // Forged and malformed frames through the channel: dropped, nothing answered to anyone, no lease moved.
        var rng = SplitMixForTests(seed: 7)
        for i in 0..<500 {
            var f = Message([.done, .failed, .abandoned, .task][i % 4], ["task": first, "code": "node"]).encode()
            if i % 3 == 0 { f[Int(rng.next() % UInt64(f.count))] ^= 0x40 }
            channel.deliver(i % 5 == 0 ? [Array("fz".utf8), f, f] : [Array("fz\(i % 7)".utf8), f])
        }
        try coordinator.pump()
        XCTAssertNil(try slow.receive(timeout: 0))
        XCTAssertEqual(coordinator.scheduler.leases[first]?.worker, "slow")
        XCTAssertTrue(verified.isEmpty)
        // The lease is 10 s: at +9 s it holds, at +11 s the task goes to the next worker who asks.
        clock.now += 9
        try coordinator.pump()
        XCTAssertNotNil(coordinator.scheduler.leases[first])
        clock.now += 2
        try coordinator.pump()
        XCTAssertNil(coordinator.scheduler.leases[first])
        XCTAssertEqual(try ask(fast, .hello, ["host": "h2"])?.kind, .welcome)
        XCTAssertEqual(try ask(fast, .request)?.body["task"], first)
        // The slow worker's late report is not the lease holder's: not verified, not counted.
        XCTAssertEqual(try ask(slow, .done, ["task": first]), nil)
        XCTAssertTrue(verified.isEmpty)
        XCTAssertEqual(try ask(fast, .done, ["task": first])?.kind, nil)
        XCTAssertEqual(verified, [first])
        XCTAssertTrue(coordinator.scheduler.done.contains(first))
    }
}

/// SplitMix64 for the fuzz (the sweep's own lives in Kernels).
struct SplitMixForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
