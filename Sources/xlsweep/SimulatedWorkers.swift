import Dispatch
import Foundation
import SweepRunner

/// Many workers simulated over real loopback ZeroMQ sockets by a few threads: each socket is a
/// worker (its own DEALER identity) that asks for a task, reports it done at once and asks again,
/// as a real worker does with a no-op task. Request → task round trips are timed per socket.
final class SimulatedWorkers: @unchecked Sendable {
    let context: ZMQContext
    let endpoint: String
    let perThread: [[ZMQSocket]]
    private let lock = NSLock()
    private(set) var roundTrips: [Double] = []
    private(set) var completed = 0
    private var stopped = false

    /// Ends the request loops (the coordinator has stopped serving: no answer would come).
    func stop() { lock.lock(); stopped = true; lock.unlock() }
    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    init(count: Int, threads: Int, endpoint: String) throws {
        context = try ZMQContext()
        self.endpoint = endpoint
        var groups = [[ZMQSocket]](repeating: [], count: max(1, threads))
        for i in 0..<count {
            let s = try ZMQSocket(.dealer, context: context)
            try s.setIdentity("sim-\(i)")
            try s.connect(endpoint)
            groups[i % groups.count].append(s)
        }
        perThread = groups
    }

    /// Runs the request → task → done loop on every socket until each is told to shut down (or
    /// `deadline` passes); returns once every thread has finished.
    func dispatch(deadline: Double) -> DispatchGroup {
        let group = DispatchGroup()
        for t in perThread.indices {
            group.enter()
            let thread = Thread { [self] in
                let sockets = perThread[t]
                defer { group.leave() }
                var sentAt = [Double](repeating: 0, count: sockets.count)
                var retryAt = [Double](repeating: 0, count: sockets.count)
                var live = Set(sockets.indices)
                var times: [Double] = [], count = 0
                let request = Message(.request).encode()
                for (i, s) in sockets.enumerated() { sentAt[i] = now(); _ = try? s.send([request]) }
                while !live.isEmpty && now() < deadline && !isStopped {
                    let ready = (try? ZMQSocket.readable(sockets, timeout: 2)) ?? []
                    for i in ready {
                        while let frames = try? sockets[i].receive(timeout: 0), let f = frames.first, let m = try? Message.decode(f) {
                            switch m.kind {
                            case .task:
                                times.append(now() - sentAt[i])
                                count += 1
                                _ = try? sockets[i].send([Message(.done, ["task": m.body["task"] ?? "", "seconds": "0"]).encode()])
                                sentAt[i] = now()
                                _ = try? sockets[i].send([request])
                            case .wait:
                                retryAt[i] = now() + 0.001
                            case .shutdown:
                                live.remove(i)
                                _ = try? sockets[i].send([Message(.bye).encode()])
                            default:
                                break
                            }
                        }
                    }
                    let t = now()
                    for i in live where retryAt[i] > 0 && retryAt[i] <= t {
                        retryAt[i] = 0
                        sentAt[i] = t
                        _ = try? sockets[i].send([request])
                    }
                }
                lock.lock()
                roundTrips += times
                completed += count
                lock.unlock()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        return group
    }

    /// Every socket says hello, then heartbeats once a second until `seconds` pass (idle workers).
    func heartbeat(seconds: Double) -> DispatchGroup {
        let group = DispatchGroup()
        for t in perThread.indices {
            group.enter()
            Thread { [self] in
                let sockets = perThread[t]
                defer { group.leave() }
                let hello = Message(.hello, ["host": "sim", "pid": "0"]).encode(), beat = Message(.heartbeat).encode()
                for s in sockets { _ = try? s.send([hello]) }
                let end = now() + seconds
                var next = now()
                while now() < end {
                    if now() >= next {
                        for s in sockets { _ = try? s.send([beat]) }
                        next += 1
                    }
                    for i in (try? ZMQSocket.readable(sockets, timeout: 20)) ?? [] {
                        while (try? sockets[i].receive(timeout: 0)) ?? nil != nil {}
                    }
                }
            }.start()
        }
        return group
    }

    /// Seconds on a monotonic clock.
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The `p` quantile (0…1) of the round trips, in seconds.
    func quantile(_ p: Double) -> Double { quantileOf(roundTrips, p) }
}

/// Many workers simulated in memory by one thread (`InMemoryChannel`'s client queue): the same
/// request → task → done loop as `SimulatedWorkers`, without sockets, so what is timed is the
/// coordinator alone.
final class InMemoryWorkers: @unchecked Sendable {
    let channel: InMemoryChannel
    let count: Int
    private let lock = NSLock()
    private(set) var roundTrips: [Double] = []
    private(set) var completed = 0
    private var stopped = false

    init(count: Int, channel: InMemoryChannel) {
        self.count = count
        self.channel = channel
    }

    func stop() { lock.lock(); stopped = true; lock.unlock() }
    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func dispatch(deadline: Double) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        let replies = channel.clientQueue()
        let thread = Thread { [self] in
            defer { group.leave() }
            let ids = (0..<count).map { Array("mem-\($0)".utf8) }
            var index: [[UInt8]: Int] = [:]
            for (i, id) in ids.enumerated() { index[id] = i }
            var sentAt = [Double](repeating: 0, count: count), retryAt = [Double](repeating: 0, count: count)
            var live = Set(0..<count), times: [Double] = [], done = 0
            let request = Message(.request).encode()
            for i in 0..<count { sentAt[i] = now(); channel.deliver([ids[i], request]) }
            while !live.isEmpty && now() < deadline && !isStopped {
                if let frames = replies.receive(timeout: 2), let i = index[frames[0]], let m = try? Message.decode(frames[1]) {
                    switch m.kind {
                    case .task:
                        times.append(now() - sentAt[i])
                        done += 1
                        channel.deliver([ids[i], Message(.done, ["task": m.body["task"] ?? "", "seconds": "0"]).encode()])
                        sentAt[i] = now()
                        channel.deliver([ids[i], request])
                    case .wait:
                        retryAt[i] = now() + 0.001
                    case .shutdown:
                        live.remove(i)
                        channel.deliver([ids[i], Message(.bye).encode()])
                    default:
                        break
                    }
                }
                let t = now()
                for i in live where retryAt[i] > 0 && retryAt[i] <= t {
                    retryAt[i] = 0
                    sentAt[i] = t
                    channel.deliver([ids[i], request])
                }
            }
            lock.lock()
            roundTrips = times
            completed = done
            lock.unlock()
        }
        thread.stackSize = 1 << 20
        thread.start()
        return group
    }

    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func quantile(_ p: Double) -> Double { quantileOf(roundTrips, p) }
}

/// The `p` quantile (0…1) of `values` (nearest rank).
func quantileOf(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let k = Int((Double(sorted.count) * p).rounded(.up)) - 1
    return sorted[max(0, min(sorted.count - 1, k))]
}

/// CPU seconds this thread has used.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
