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

/// A queue one side pushes to and another takes from, waiting up to a timeout (the in-memory
/// channel's inboxes).
public final class BlockingQueue<Element>: @unchecked Sendable {
    let condition = NSCondition()
    var items: [Element] = []
    var head = 0

    public init() {}

    public func push(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Items waiting.
    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// The next item within `timeout` milliseconds (0: only what is there), or nil.
    public func receive(timeout: Int) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        if head == items.count && timeout > 0 {
            let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
            while head == items.count && condition.wait(until: deadline) {}
        }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 4096 && head * 2 > items.count {   // drop what was taken, now and then
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}

/// A coordinator channel in memory, modelled on swift-nio's EmbeddedChannel: peers `connect` and
/// get a `WorkerChannel` whose frames arrive here with their identity, as a ROUTER would deliver
/// them; replies go to that peer's queue. Thread-safe (simulated workers may run on other threads).
public final class InMemoryChannel: CoordinatorChannel, @unchecked Sendable {
    public let endpoint = "inmemory://coordinator"
    let inbox = BlockingQueue<[[UInt8]]>()
    let lock = NSLock()
    var peers: [[UInt8]: InMemoryPeer] = [:]
    var clients: BlockingQueue<[[UInt8]]>?

    public init() {}

    /// A peer with this identity (ZeroMQ's routing id); connecting again replaces the old one.
    public func connect(identity: String) -> InMemoryPeer {
        let peer = InMemoryPeer(identity: Array(identity.utf8), channel: self)
        lock.lock()
        peers[peer.identity] = peer
        lock.unlock()
        return peer
    }

    /// Delivers a raw message (any number of frames) as if it came off the wire: forged and
    /// malformed input reaches the coordinator exactly as a socket would hand it over.
    public func deliver(_ frames: [[UInt8]]) { inbox.push(frames) }

    /// Messages waiting for the coordinator.
    public var pending: Int { inbox.count }

    public func receive(timeout: Int) throws -> [[UInt8]]? { inbox.receive(timeout: timeout) }

    public func send(_ frames: [[UInt8]]) throws {
        guard frames.count == 2 else { return }
        lock.lock()
        let peer = peers[frames[0]], clients = self.clients
        lock.unlock()
        if let peer { peer.inbox.push(frames[1]) } else { clients?.push(frames) }
    }

    /// One queue for the replies (`[identity, frame]`) to every identity that did not `connect`
    /// (many simulated workers served by one thread, as `bench sweep` does): they send with `deliver`.
    public func clientQueue() -> BlockingQueue<[[UInt8]]> {
        lock.lock()
        defer { lock.unlock() }
        if clients == nil { clients = BlockingQueue() }
        return clients!
    }
}

/// A peer of an `InMemoryChannel`.
public final class InMemoryPeer: WorkerChannel, @unchecked Sendable {
    public let identity: [UInt8]
    weak var channel: InMemoryChannel?
    let inbox = BlockingQueue<[UInt8]>()

    init(identity: [UInt8], channel: InMemoryChannel) {
        self.identity = identity
        self.channel = channel
    }

    public func send(_ frame: [UInt8]) throws { channel?.deliver([identity, frame]) }

    public func receive(timeout: Int) throws -> [UInt8]? { inbox.receive(timeout: timeout) }
}
