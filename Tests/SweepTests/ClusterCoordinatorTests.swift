import Checkpoints
import Foundation
import Kernels
import Models
import Store
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// The coordinator's cluster behaviour over real ZeroMQ sockets, with hand-driven workers (DEALER
/// sockets speaking the wire protocol): nodes that keep failing are cut off, model tasks go only
/// to workers whose memory holds the weights, and a stopping coordinator takes tasks back.
final class ClusterCoordinatorTests: XCTestCase {
    /// A coordinator serving on its own thread until `finish()` (or until `serve` returns by itself).
    final class Serving: @unchecked Sendable {
        let coordinator: Coordinator
        let lock = NSLock()
        var stopRequested = false, drain: (reason: String, grace: Double)?
        var returned = false, error: Error?
        let done = DispatchSemaphore(value: 0)

        init(_ coordinator: Coordinator) {
            self.coordinator = coordinator
            let thread = Thread { [self] in
                do {
                    try self.coordinator.serve(idleExit: 0.5) { c in
                        self.lock.lock()
                        defer { self.lock.unlock() }
                        if let d = self.drain, c.stopping == nil { c.stop(reason: d.reason, grace: d.grace) }
                        if self.stopRequested { throw SweepError("test over") }
                    }
                } catch { self.error = error }
                self.lock.lock()
                self.returned = true
                self.lock.unlock()
                self.done.signal()
            }
            thread.start()
        }

        func stop(reason: String, grace: Double) { lock.lock(); drain = (reason, grace); lock.unlock() }

        /// Ends serving; true when it had already returned by itself.
        @discardableResult
        func finish() -> Bool {
            lock.lock()
            let already = returned
            stopRequested = true
            lock.unlock()
            _ = done.wait(timeout: .now() + 10)
            return already
        }
    }

    /// A hand-driven worker: sends a message, waits for the answer.
    struct FakeWorker {
        let socket: ZMQSocket
        init(_ identity: String, endpoint: String) throws {
            socket = try ZMQSocket(.dealer)
            try socket.setIdentity(identity)
            try socket.connect(endpoint)
        }

        @discardableResult
        func ask(_ kind: Message.Kind, _ body: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Message {
            try socket.send([Message(kind, body).encode()])
            guard let frames = try socket.receive(timeout: 5000), frames.count == 1 else {
                XCTFail("no answer to \(kind)", file: file, line: line)
                throw SweepError("no answer")
            }
            return try Message.decode(frames[0])
        }

        func tell(_ kind: Message.Kind, _ body: [String: String] = [:]) throws { try socket.send([Message(kind, body).encode()]) }
    }

    func sweep(extra: String = "") throws -> ResolvedSweep {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-cluster-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return try ResolvedSweep(try SweepConfig(path: try SweepFixture.make(in: dir, extra: extra)))
    }

    func status(_ endpoint: String) throws -> [String: String] {
        try FakeWorker("status-\(UUID().uuidString)", endpoint: endpoint).ask(.status).body
    }

    func testANodeThatKeepsFailingIsCutOffAndStatusNamesIt() throws {
        let s = try sweep(extra: "max_node_failures: 2")
        let coordinator = try Coordinator(sweep: s, bind: "tcp://127.0.0.1:*")
        let serving = Serving(coordinator)
        defer { serving.finish() }
        let bad = try FakeWorker("badnode:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try bad.ask(.hello, ["host": "badnode", "memory_bytes": "\(1 << 40)", "cpu": "avx2"]).kind, .welcome)
        for attempt in 1...2 {
            let task = try bad.ask(.request)
            XCTAssertEqual(task.kind, .task, "attempt \(attempt)")
            try bad.tell(.failed, ["task": task.body["task"]!, "error": "step1: cannot map model.safetensors", "code": "node"])
        }
        // Cut off: no more work for it, nor for a new worker on the same node, and the reason says why.
        let refused = try bad.ask(.request)
        XCTAssertEqual(refused.kind, .shutdown)
        XCTAssertTrue(refused.body["reason"]?.contains("node badnode failed 2 times in a row (max_node_failures 2)") ?? false, "\(refused.body)")
        let sibling = try FakeWorker("badnode:2", endpoint: coordinator.endpoint)
        XCTAssertEqual(try sibling.ask(.hello, ["host": "badnode"]).kind, .shutdown)
        // Another node still gets work; `status` lists the cut-off node with its last error.
        let good = try FakeWorker("goodnode:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try good.ask(.hello, ["host": "goodnode", "cpu": "avx512", "memory_bytes": "\(1 << 40)"]).kind, .welcome)
        XCTAssertEqual(try good.ask(.request).kind, .task)
        let st = try status(coordinator.endpoint)
        XCTAssertTrue(st["nodes_cut_off"]?.contains("node badnode failed 2 times") ?? false, "\(st)")
        XCTAssertTrue(st["nodes_cut_off"]?.contains("cannot map model.safetensors") ?? false, "\(st)")
        XCTAssertTrue(st["worker_list"]?.contains("goodnode:1 on goodnode (avx512, 1024.00 GiB): holds no checkpoint, running extract/") ?? false, "\(st)")
        XCTAssertFalse(st["worker_list"]?.contains("badnode") ?? true, "\(st)")
    }

    func testDeterministicTaskFailuresDoNotCutANodeOffButFailedStartsDo() throws {
        let s = try sweep(extra: "max_node_failures: 3\nmax_attempts: 1")
        let coordinator = try Coordinator(sweep: s, bind: "tcp://127.0.0.1:*")
        let serving = Serving(coordinator)
        defer { serving.finish() }
        // Three tasks in a row fail on one node because of their inputs: the node keeps getting work.
        let steady = try FakeWorker("steady:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try steady.ask(.hello, ["host": "steady", "memory_bytes": "\(1 << 40)"]).kind, .welcome)
        var failedIDs: [String] = []
        for attempt in 1...3 {
            let task = try steady.ask(.request)
            XCTAssertEqual(task.kind, .task, "attempt \(attempt)")
            failedIDs.append(task.body["task"]!)
            try steady.tell(.failed, ["task": task.body["task"]!, "code": "input",
                                      "error": "models/x: the tokenizer adds no start token and config.json has no bos_token_id"])
        }
        XCTAssertEqual(try steady.ask(.request).kind, .task, "a node whose tasks' inputs are at fault is not cut off")
        var st = try status(coordinator.endpoint)
        XCTAssertEqual(st["failures_by_code"], "input: 3", "\(st)")
        XCTAssertEqual(st["nodes_cut_off"], "", "\(st)")
        for id in failedIDs { XCTAssertTrue(st["failures"]?.contains("\(id) [input]: [input] models/x: the tokenizer") ?? false, "\(st)") }
        // A node whose workers cannot start (its data are missing) is cut off after three.
        for i in 1...3 {
            let w = try FakeWorker("nodata:\(i)", endpoint: coordinator.endpoint)
            XCTAssertEqual(try w.ask(.hello, ["host": "nodata"]).kind, .welcome)
            try w.tell(.refused, ["host": "nodata", "error": "/data/demo/manifest.json: no such file (the data set)"])
        }
        let late = try FakeWorker("nodata:4", endpoint: coordinator.endpoint)
        var answer = Message.Kind.welcome
        for _ in 0..<50 where answer != .shutdown {
            answer = try late.ask(.hello, ["host": "nodata"]).kind
            if answer != .shutdown { usleep(100_000) }
        }
        XCTAssertEqual(answer, .shutdown)
        st = try status(coordinator.endpoint)
        XCTAssertTrue(st["nodes_cut_off"]?.contains("node nodata failed 3 times in a row") ?? false, "\(st)")
        XCTAssertFalse(st["nodes_cut_off"]?.contains("steady") ?? true, "\(st)")
    }

    func testModelTasksGoOnlyToWorkersWhoseMemoryHoldsTheWeights() throws {
        let s = try sweep()
        let placement = Placement(sweep: s)
        // bloom-tiny's parameters by BLOOM's layout (embeddings and their norm, per block two norms,
        // fused QKV, the attention's dense, the two MLP projections, the final norm; head tied),
        // at 2 bytes each: dtype auto can fall back to bf16.
        let c = try XCTUnwrap(s.modelConfigs["step1"])
        let d = c.dModel, m = c.dMLP
        let perBlock = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (m * d + m) + (d * m + d)
        XCTAssertEqual(placement.weightBytes["step1"], 2 * (c.vocabSize * d + 2 * d + c.nLayers * perBlock + 2 * d))
        let coordinator = try Coordinator(sweep: s, bind: "tcp://127.0.0.1:*")
        let serving = Serving(coordinator)
        defer { serving.finish() }
        let small = try FakeWorker("small:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try small.ask(.hello, ["host": "small", "memory_bytes": "1000"]).kind, .welcome)
        // Every ready task is an extraction (all else reads them): the small worker waits.
        XCTAssertEqual(try small.ask(.request).kind, .wait)
        let st = try status(coordinator.endpoint)
        XCTAssertTrue(st["worker_list"]?.contains("not given step1: cannot hold step1: its weights need") ?? false, "\(st)")
        XCTAssertTrue(st["worker_list"]?.contains("the worker may use 0.00 GiB") ?? false, "\(st)")
        let big = try FakeWorker("big:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try big.ask(.hello, ["host": "big", "memory_bytes": "\(1 << 36)"]).kind, .welcome)
        let task = try big.ask(.request)
        XCTAssertEqual(task.kind, .task)
        XCTAssertTrue(task.body["task"]?.hasPrefix("extract/") ?? false, "\(task.body)")
        // A worker that says nothing about its memory is taken to have enough.
        let quiet = try FakeWorker("quiet:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try quiet.ask(.hello, ["host": "quiet"]).kind, .welcome)
        XCTAssertEqual(try quiet.ask(.request).kind, .task)
    }

    /// When no connected worker can hold what is left, the coordinator says so and stops, instead
    /// of waiting for a worker that will never come.
    func testACoordinatorWhoseWorkersCannotHoldTheModelsStopsAndSaysWhy() throws {
        let s = try sweep(extra: "no_worker_timeout: 1")
        let coordinator = try Coordinator(sweep: s, bind: "tcp://127.0.0.1:*")
        let serving = Serving(coordinator)
        let small = try FakeWorker("small:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try small.ask(.hello, ["host": "small", "memory_bytes": "1000"]).kind, .welcome)
        // It keeps asking (and is told to wait) until the coordinator gives up.
        var answered = false
        for _ in 0..<50 {
            try small.tell(.request)
            guard let frames = try small.socket.receive(timeout: 300) else { break }
            let m = try Message.decode(frames[0])
            XCTAssertEqual(m.kind, .wait)
            answered = true
        }
        XCTAssertTrue(answered)
        XCTAssertEqual(serving.done.wait(timeout: .now() + 10), .success)
        serving.done.signal()
        serving.finish()
        let error = String(describing: try XCTUnwrap(serving.error))
        XCTAssertTrue(error.contains("no connected worker could take any of the 15 ready tasks: cannot hold step"), error)
    }

    func testAStoppingCoordinatorLeasesNothingTakesTasksBackAndReturns() throws {
        let s = try sweep()
        let coordinator = try Coordinator(sweep: s, bind: "tcp://127.0.0.1:*")
        let serving = Serving(coordinator)
        let worker = try FakeWorker("w:1", endpoint: coordinator.endpoint)
        XCTAssertEqual(try worker.ask(.hello, ["host": "w"]).kind, .welcome)
        let task = try worker.ask(.request)
        let id = try XCTUnwrap(task.body["task"])
        XCTAssertEqual(task.body["attempt"], "1")
        serving.stop(reason: "SIGTERM", grace: 30)
        // Its heartbeat is answered with `stop` and the grace left; a new request gets shutdown.
        var answer = try worker.ask(.heartbeat, ["task": id])
        for _ in 0..<20 where answer.kind == .ack {
            usleep(50_000)
            answer = try worker.ask(.heartbeat, ["task": id])
        }
        XCTAssertEqual(answer.kind, .stop)
        XCTAssertEqual(answer.body["reason"], "SIGTERM")
        let grace = try XCTUnwrap(answer.body["grace_seconds"].flatMap(Double.init))
        XCTAssertTrue(grace > 25 && grace <= 30, "\(grace)")
        let other = try FakeWorker("w:2", endpoint: coordinator.endpoint)
        XCTAssertEqual(try other.ask(.hello, ["host": "w"]).kind, .welcome)
        let refused = try other.ask(.request)
        XCTAssertEqual(refused.kind, .shutdown)
        XCTAssertEqual(refused.body["reason"], "the sweep is stopping (SIGTERM)")
        // The task given back: queued again at once, the attempt not spent; with no lease left, serve returns.
        try worker.tell(.abandoned, ["task": id, "reason": "stopped by SIGTERM"])
        XCTAssertEqual(serving.done.wait(timeout: .now() + 10), .success, "serve did not return once no task was leased")
        serving.done.signal()
        XCTAssertTrue(serving.finish(), "serve returned only when told to")
        XCTAssertNil(serving.error)
        XCTAssertEqual(coordinator.stopping?.reason, "SIGTERM")
        XCTAssertTrue(coordinator.scheduler.leases.isEmpty)
        XCTAssertEqual(coordinator.scheduler.attempts[id], 0)
        XCTAssertTrue(coordinator.scheduler.readyTasks.map(\.id).contains(id))
    }
}

/// The pure parts: node health and placement.
final class NodeHealthAndPlacementTests: XCTestCase {
    func testFailuresInARowCutANodeOffAndASuccessResetsTheCount() {
        var health = NodeHealth(cutoff: 3)
        XCTAssertFalse(health.failed(host: "a", error: "x"))
        XCTAssertFalse(health.failed(host: "a", error: "y"))
        health.succeeded(host: "a")
        XCTAssertFalse(health.failed(host: "a", error: "x"))
        XCTAssertFalse(health.failed(host: "a", error: "x"))
        XCTAssertFalse(health.isCutOff("a"))
        XCTAssertTrue(health.failed(host: "a", error: "disk gone"))
        XCTAssertFalse(health.failed(host: "a", error: "again"), "cut off once")
        XCTAssertTrue(health.isCutOff("a"))
        XCTAssertFalse(health.isCutOff("b"))
        XCTAssertEqual(health.cutOffLines.count, 1)
        XCTAssertTrue(health.reason("a")!.contains("Last error: again"), health.reason("a")!)
        var never = NodeHealth(cutoff: 0)
        for _ in 0..<100 { never.failed(host: "a", error: "x") }
        XCTAssertFalse(never.isCutOff("a"))
    }

    func testOnlyNodeAndResourceFaultsCountAndAFaultSeenOnTwoNodesIsTheTasks() {
        var health = NodeHealth(cutoff: 2)
        func fail(_ task: String, _ code: FailureCode, on host: String, _ message: String = "boom") -> FailureCode {
            health.failed(TaskFailure(task: task, code: code, host: host, message: message)).code
        }
        for i in 0..<10 {
            XCTAssertEqual(fail("t\(i)", .input, on: "a"), .input)
            XCTAssertEqual(fail("u\(i)", .bug, on: "a"), .bug)
        }
        XCTAssertFalse(health.isCutOff("a"))
        XCTAssertEqual(health.nodes["a"]?.failuresInARow, 0)
        // A node fault on one node counts; the same words for the same task on another node make it the task's.
        XCTAssertEqual(fail("x", .node, on: "a", "cannot map model.safetensors"), .node)
        XCTAssertEqual(health.nodes["a"]?.failuresInARow, 1)
        XCTAssertEqual(fail("x", .node, on: "b", "cannot map model.safetensors"), .input)
        XCTAssertEqual(health.nodes["a"]?.failuresInARow, 0, "the first node is forgiven")
        XCTAssertEqual(health.nodes["b"]?.failuresInARow ?? 0, 0)
        // Other words, or the same node again, still count; resource faults count.
        XCTAssertEqual(fail("y", .node, on: "a", "bus error"), .node)
        XCTAssertEqual(fail("y", .node, on: "b", "other words"), .node)
        XCTAssertEqual(fail("z", .resource, on: "a", "No space left on device"), .resource)
        XCTAssertTrue(health.isCutOff("a"))
        XCTAssertFalse(health.isCutOff("b"))
    }

    func testErrorsAreCodedByWhoseFaultTheyAre() throws {
        XCTAssertEqual(FailureCode.of(SweepError("language en: fewer than 2 probe tokens")), .input)
        XCTAssertEqual(FailureCode.of(SweepError("x: no such file (the checkpoint's tokenizer)", code: .node)), .node)
        // A real truncated checkpoint: its inputs' fault.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-codes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        XCTAssertThrowsError(try Safetensors.read(path: dir + "/model.safetensors")) { XCTAssertEqual(FailureCode.of($0), .input, "\($0)") }
        // A file this node cannot read: the node's; a full disk: a resource.
        XCTAssertThrowsError(try Data(contentsOf: URL(fileURLWithPath: dir + "/absent"))) { XCTAssertEqual(FailureCode.of($0), .node, "\($0)") }
        XCTAssertEqual(FailureCode.of(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))), .resource)
        XCTAssertEqual(FailureCode.of(HDF5Error(path: "f.h5", detail: "write failed: No space left on device")), .resource)
        struct Unexpected: Error {}
        XCTAssertEqual(FailureCode.of(Unexpected()), .bug)
        // On the wire: absent or unknown codes count against the node, as before codes existed.
        XCTAssertEqual(FailureCode(wire: nil), .node)
        XCTAssertEqual(FailureCode(wire: "⚠️"), .node)
        XCTAssertEqual(FailureCode(wire: "input"), .input)
    }

    func testOnlyModelTasksNeedTheWeightsInMemory() {
        let plan = Plan(checkpoints: ["a"], languages: ["en"], layers: ["a": 1], concepts: ["joy"], generation: true)
        let placement = Placement(weightBytes: ["a": 1 << 30])
        for task in plan.tasks {
            let needs = task.kind == .extract || task.kind == .generate || task.kind == .unforced
            XCTAssertEqual(placement.needs(task), needs ? 1_342_177_280 : 0, task.id)
            XCTAssertEqual(placement.refusal(task, memory: 1 << 30) != nil, needs, task.id)
            XCTAssertNil(placement.refusal(task, memory: 2 << 30), task.id)
            XCTAssertNil(placement.refusal(task, memory: nil), task.id)
        }
    }

    func testMemorySizesNodeNamesAndThreadCounts() {
        XCTAssertEqual(Worker.parseBytes("12345"), 12345)
        XCTAssertEqual(Worker.parseBytes("512M"), 512 << 20)
        XCTAssertEqual(Worker.parseBytes("1.5g"), 3 << 29)
        XCTAssertEqual(Worker.parseBytes(" 2T "), 2 << 40)
        for bad in ["", "lots", "-1G", "5GB", "5GiB", "nan", "1e30"] { XCTAssertNil(Worker.parseBytes(bad), bad) }
        XCTAssertEqual(Worker.memoryLimit(environment: ["XLSWEEP_MEMORY": "3G"]), 3 << 30)
        XCTAssertEqual(Worker.nodeName(environment: ["SLURMD_NODENAME": "gpu17"]), "gpu17")
        // A Slurm task's threads are its --cpus-per-task, unless XLSWEEP_THREADS says otherwise.
        XCTAssertEqual(threadCount(environment: ["SLURM_CPUS_PER_TASK": "4"], cores: 64), 4)
        XCTAssertEqual(threadCount(environment: ["SLURM_CPUS_PER_TASK": "4", "XLSWEEP_THREADS": "2"], cores: 64), 2)
        XCTAssertEqual(threadCount(environment: ["SLURM_CPUS_PER_TASK": "x"], cores: 64), 64)
        XCTAssertEqual(threadCount(environment: [:], cores: 0), 1)
    }
}

/// What a worker says it may use, read from a fake /proc and cgroup tree (v1 and v2).
final class MemoryInfoTests: XCTestCase {
    func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func testCgroupLimitsOnTheWayToTheRootCapWhatIsAvailable() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-mem-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let proc = root + "/proc", cgroup = root + "/cgroup"
        try write("MemTotal: 100000000 kB\nMemAvailable: 50000000 kB\n", proc + "/meminfo")
        // No cgroup file at all: MemAvailable.
        XCTAssertEqual(MemoryInfo.availableBytes(proc: proc, cgroup: cgroup), 50_000_000 * 1024)
        // v2: a Slurm job's step with --mem=8G, under a parent without a limit ("max").
        try write("0::/system.slice/slurmstepd.scope/job_7/step_0\n", proc + "/self/cgroup")
        try write("max\n", cgroup + "/system.slice/memory.max")
        try write("\(8 << 30)\n", cgroup + "/system.slice/slurmstepd.scope/job_7/memory.max")
        try write("\(1 << 30)\n", cgroup + "/system.slice/slurmstepd.scope/job_7/memory.current")
        XCTAssertEqual(MemoryInfo.availableBytes(proc: proc, cgroup: cgroup), 7 << 30)
        // v1: the memory controller's own hierarchy; an unlimited value is no limit.
        try write("12:memory:/slurm/uid_0/job_9\n11:cpu,cpuacct:/slurm/uid_0/job_9\n", proc + "/self/cgroup")
        try write("9223372036854771712\n", cgroup + "/memory/slurm/memory.limit_in_bytes")
        try write("\(4 << 30)\n", cgroup + "/memory/slurm/uid_0/job_9/memory.limit_in_bytes")
        try write("\(3 << 30)\n", cgroup + "/memory/slurm/uid_0/job_9/memory.usage_in_bytes")
        XCTAssertEqual(MemoryInfo.availableBytes(proc: proc, cgroup: cgroup), 1 << 30)
        // A container's own cgroup namespace: the path is "/", the limit at the mount itself.
        try write("0::/\n", proc + "/self/cgroup")
        try write("\(2 << 30)\n", cgroup + "/memory.max")
        try write("\(1 << 29)\n", cgroup + "/memory.current")
        XCTAssertEqual(MemoryInfo.availableBytes(proc: proc, cgroup: cgroup), 3 << 29)
        XCTAssertNotNil(MemoryInfo.availableBytes(), "this machine's own /proc")
    }
}
