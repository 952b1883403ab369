import Foundation
import SweepCore

/// The coordinator's end of the wire: messages from peers as `[identity, frame]`, and messages to
/// them. Implemented over ZeroMQ (`ZMQRouterChannel`, with CURVE) and in memory
/// (`InMemoryChannel`, for tests and `bench sweep`: the same coordinator, no sockets).
public protocol CoordinatorChannel: AnyObject {
    /// Where peers reach it (a ZeroMQ endpoint, or `inmemory://…`).
    var endpoint: String { get }
    /// The next message within `timeout` milliseconds (0: only what has already arrived), or nil.
    func receive(timeout: Int) throws -> [[UInt8]]?
    /// Sends `[identity, frame]` to that peer; a peer that is gone drops it.
    func send(_ frames: [[UInt8]]) throws
}

/// A worker's end of the wire: one frame out, one frame in.
public protocol WorkerChannel: AnyObject {
    func send(_ frame: [UInt8]) throws
    /// The next frame within `timeout` milliseconds, or nil.
    func receive(timeout: Int) throws -> [UInt8]?
}

/// The ZeroMQ ROUTER a coordinator binds, optionally CURVE-encrypted with an authenticator that
/// admits only the authorised workers' keys.
public final class ZMQRouterChannel: CoordinatorChannel {
    public let socket: ZMQSocket
    public let endpoint: String
    let authenticator: CurveAuthenticator?

    /// - Parameters: secretKey and authorized: CURVE (nil: plain TCP); maxFrameBytes: larger frames are refused by ZeroMQ.
    public init(bind: String, secretKey: String? = nil, authorized: Set<String> = [], maxFrameBytes: Int,
                log: @escaping @Sendable (String) -> Void) throws {
        let context = try ZMQContext()
        if let secretKey {
            authenticator = try CurveAuthenticator(context: context, authorized: authorized, log: log)
            socket = try ZMQSocket(.router, context: context, maxMessageBytes: maxFrameBytes)
            try socket.makeCurveServer(secretKey: secretKey)
        } else {
            authenticator = nil
            socket = try ZMQSocket(.router, context: context, maxMessageBytes: maxFrameBytes)
        }
        endpoint = try socket.bind(bind)
    }

    deinit { authenticator?.stop() }

    public func receive(timeout: Int) throws -> [[UInt8]]? { try socket.receive(timeout: timeout) }
    public func send(_ frames: [[UInt8]]) throws { try socket.send(frames) }
}

/// A coordinator channel in memory, modelled on swift-nio's EmbeddedChannel: peers `connect` and
/// get a `WorkerChannel` whose frames arrive here with their identity, as a ROUTER would deliver
/// them; replies go to that peer's queue. Thread-safe (simulated workers may run on other threads).
public final class InMemoryChannel: CoordinatorChannel, @unchecked Sendable {
    public let endpoint = "inmemory://coordinator"
    let condition = NSCondition()
    var inbox: [[[UInt8]]] = []
    var head = 0
    var peers: [[UInt8]: InMemoryPeer] = [:]

    public init() {}

    /// A peer with this identity (ZeroMQ's routing id); connecting again replaces the old one.
    public func connect(identity: String) -> InMemoryPeer {
        let peer = InMemoryPeer(identity: Array(identity.utf8), channel: self)
        condition.lock()
        peers[peer.identity] = peer
        condition.unlock()
        return peer
    }

    /// Delivers a raw message (any number of frames) as if it came off the wire: forged and
    /// malformed input reaches the coordinator exactly as a socket would hand it over.
    public func deliver(_ frames: [[UInt8]]) {
        condition.lock()
        inbox.append(frames)
        condition.signal()
        condition.unlock()
    }

    /// Messages waiting for the coordinator.
    public var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return inbox.count - head
    }

    public func receive(timeout: Int) throws -> [[UInt8]]? {
        condition.lock()
        defer { condition.unlock() }
        if head == inbox.count && timeout > 0 {
            let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
            while head == inbox.count && condition.wait(until: deadline) {}
        }
        guard head < inbox.count else { return nil }
        let frames = inbox[head]
        head += 1
        if head > 4096 && head * 2 > inbox.count {   // drop what was read, now and then
            inbox.removeFirst(head)
            head = 0
        }
        return frames
    }

    public func send(_ frames: [[UInt8]]) throws {
        guard frames.count == 2 else { return }
        condition.lock()
        let peer = peers[frames[0]]
        let clients = self.clients
        condition.unlock()
        if let peer { peer.push(frames[1]) } else { clients?.push(frames) }
    }

    var clients: InMemoryClients?

    /// One queue for the replies to every identity that did not `connect` (many simulated workers
    /// served by one thread, as `bench sweep` does): they send with `deliver([identity, frame])`.
    public func clientQueue() -> InMemoryClients {
        condition.lock()
        defer { condition.unlock() }
        if clients == nil { clients = InMemoryClients() }
        return clients!
    }
}

/// Replies to many simulated peers, as `[identity, frame]`, in the order they were sent.
public final class InMemoryClients: @unchecked Sendable {
    let condition = NSCondition()
    var queue: [[[UInt8]]] = []
    var head = 0

    /// The next reply within `timeout` milliseconds, or nil.
    public func receive(timeout: Int) -> [[UInt8]]? {
        condition.lock()
        defer { condition.unlock() }
        if head == queue.count && timeout > 0 {
            let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
            while head == queue.count && condition.wait(until: deadline) {}
        }
        guard head < queue.count else { return nil }
        let frames = queue[head]
        head += 1
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return frames
    }

    func push(_ frames: [[UInt8]]) {
        condition.lock()
        queue.append(frames)
        condition.signal()
        condition.unlock()
    }
}

/// A peer of an `InMemoryChannel`.
public final class InMemoryPeer: WorkerChannel, @unchecked Sendable {
    public let identity: [UInt8]
    weak var channel: InMemoryChannel?
    let condition = NSCondition()
    var queue: [[UInt8]] = []

    init(identity: [UInt8], channel: InMemoryChannel) {
        self.identity = identity
        self.channel = channel
    }

    public func send(_ frame: [UInt8]) throws { channel?.deliver([identity, frame]) }

    public func receive(timeout: Int) throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        if queue.isEmpty && timeout > 0 {
            let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
            while queue.isEmpty && condition.wait(until: deadline) {}
        }
        return queue.isEmpty ? nil : queue.removeFirst()
    }

    func push(_ frame: [UInt8]) {
        condition.lock()
        queue.append(frame)
        condition.signal()
        condition.unlock()
    }
}
