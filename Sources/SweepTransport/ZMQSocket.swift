import CZeroMQ
import Foundation
import SweepCore

/// A ZeroMQ context; sockets that talk over `inproc://` (the ZAP authenticator) must share one.
public final class ZMQContext: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    public init() throws {
        guard let p = zmq_ctx_new() else { throw SweepError("zmq: cannot create a context") }
        pointer = p
    }
    deinit { zmq_ctx_term(pointer) }
}

/// A thin owner of one ZeroMQ socket. Sockets are not thread-safe: each is used by one thread.
/// LINGER is 0 so closing never hangs (PLATFORM.md).
public final class ZMQSocket {
    /// A NUL-terminated C string in a buffer, as UTF-8 text.
    static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public enum Kind { case router, dealer, reply }

    let context: ZMQContext
    let socket: UnsafeMutableRawPointer

    /// - Parameter maxMessageBytes: ZeroMQ refuses (and disconnects a peer sending) larger messages.
    public init(_ kind: Kind, context: ZMQContext? = nil, maxMessageBytes: Int = 1 << 24) throws {
        let ctx = try context ?? ZMQContext()
        let type: Int32 = kind == .router ? ZMQ_ROUTER : kind == .dealer ? ZMQ_DEALER : ZMQ_REP
        guard let s = zmq_socket(ctx.pointer, type) else {
            throw SweepError("zmq: cannot create a socket: \(Self.lastError)")
        }
        self.context = ctx
        socket = s
        try setInt(ZMQ_LINGER, 0)
        var limit = Int64(maxMessageBytes)
        guard zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &limit, MemoryLayout<Int64>.size) == 0 else {
            throw SweepError("zmq: setsockopt ZMQ_MAXMSGSIZE: \(Self.lastError)")
        }
    }

    deinit { zmq_close(socket) }

    static var lastError: String { String(cString: zmq_strerror(zmq_errno())) }

    func setInt(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(socket, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw SweepError("zmq: setsockopt \(option): \(Self.lastError)")
        }
    }

    func setBytes(_ option: Int32, _ bytes: [UInt8]) throws {
        guard bytes.withUnsafeBytes({ zmq_setsockopt(socket, option, $0.baseAddress, bytes.count) }) == 0 else {
            throw SweepError("zmq: setsockopt \(option): \(Self.lastError)")
        }
    }

    /// CURVE: this socket is the server holding `secretKey` (Z85, 40 characters).
    public func makeCurveServer(secretKey: String) throws {
        try setInt(ZMQ_CURVE_SERVER, 1)
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8))
        try setBytes(ZMQ_ZAP_DOMAIN, Array("xlsweep".utf8))
    }

    /// CURVE: this socket is a client with its key pair, trusting the server's public key.
    public func makeCurveClient(publicKey: String, secretKey: String, serverKey: String) throws {
        try setBytes(ZMQ_CURVE_SERVERKEY, Array(serverKey.utf8))
        try setBytes(ZMQ_CURVE_PUBLICKEY, Array(publicKey.utf8))
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8))
    }

    public func setIdentity(_ id: String) throws { try setBytes(ZMQ_ROUTING_ID, Array(id.utf8)) }

    /// Binds and returns the resolved endpoint (e.g. `tcp://127.0.0.1:*` → the chosen port).
    public func bind(_ endpoint: String) throws -> String {
        guard zmq_bind(socket, endpoint) == 0 else { throw SweepError("zmq: cannot bind \(endpoint): \(Self.lastError)") }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return Self.string(buffer)
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(socket, endpoint) == 0 else { throw SweepError("zmq: cannot connect \(endpoint): \(Self.lastError)") }
    }

    /// Sends all frames as one multipart message.
    public func send(_ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            let flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            let rc = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, frame.count, flags) }
            guard rc >= 0 else { throw SweepError("zmq: send failed: \(Self.lastError)") }
        }
    }

    /// The positions of `sockets` that have a message waiting, after at most `timeout` milliseconds
    /// (one poll over all of them: how one thread serves many sockets).
    public static func readable(_ sockets: [ZMQSocket], timeout: Int) throws -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeout)
        if rc < 0 {
            if zmq_errno() == EINTR { return [] }
            throw SweepError("zmq: poll failed: \(lastError)")
        }
        return rc == 0 ? [] : items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }

    /// The next multipart message, or nil after `timeout` milliseconds.
    public func receive(timeout: Int) throws -> [[UInt8]]? {
        var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let rc = zmq_poll(&item, 1, timeout)
        if rc < 0 {
            if zmq_errno() == EINTR { return nil }
            throw SweepError("zmq: poll failed: \(Self.lastError)")
        }
        guard rc > 0 else { return nil }
        var frames: [[UInt8]] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            guard zmq_msg_recv(&msg, socket, 0) >= 0 else { throw SweepError("zmq: receive failed: \(Self.lastError)") }
            let size = zmq_msg_size(&msg)
            let data = zmq_msg_data(&msg)
            frames.append(size == 0 || data == nil ? [] : Array(UnsafeRawBufferPointer(start: data, count: size)))
            if zmq_msg_more(&msg) == 0 { break }
        }
        return frames
    }
}

/// CURVE key pairs (Z85 text, 40 characters), as `zmq_curve_keypair` makes them, stored as a
/// key file of two lines: `public <key>` and `secret <key>` (a `.pub` file holds the first only).
public enum CurveKeys {
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw SweepError("zmq: CURVE is not available: \(ZMQSocket.lastError)") }
        return (ZMQSocket.string(pub), ZMQSocket.string(sec))
    }

    /// Reads a key file; `secret` is nil for a public-key file.
    public static func read(_ path: String) throws -> (publicKey: String, secretKey: String?) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw SweepError("\(path): cannot read key file") }
        var pub: String?, sec: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[1].count == 40 else { continue }
            if parts[0] == "public" { pub = parts[1] }
            if parts[0] == "secret" { sec = parts[1] }
        }
        guard let pub else { throw SweepError("\(path): no 'public <40-character Z85 key>' line") }
        return (pub, sec)
    }

    /// Z85 text of a 32-byte binary key (as ZAP delivers client keys).
    static func z85(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        return key.withUnsafeBufferPointer { zmq_z85_encode(&out, $0.baseAddress, 32) } == nil ? nil : ZMQSocket.string(out)
    }
}

/// The ZeroMQ Authentication Protocol handler (RFC 27) for CURVE: a thread answering
/// `inproc://zeromq.zap.01` in the coordinator's context, accepting only authorised public keys.
public final class CurveAuthenticator: @unchecked Sendable {
    let socket: ZMQSocket
    let authorized: Set<String>
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopping = false
    private var thread: Thread?

    public init(context: ZMQContext, authorized: Set<String>, log: @escaping @Sendable (String) -> Void) throws {
        socket = try ZMQSocket(.reply, context: context)
        _ = try socket.bind("inproc://zeromq.zap.01")
        self.authorized = authorized
        self.log = log
        let t = Thread { [unowned self] in self.serve() }
        thread = t
        t.start()
    }

    func serve() {
        while true {
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { return }
            guard let frames = try? socket.receive(timeout: 100) else { continue }
            guard frames.count >= 7 else {
                try? socket.send([Array("1.0".utf8), frames.count > 1 ? frames[1] : [], Array("400".utf8),
                                  Array("malformed ZAP request".utf8), [], []])
                continue
            }
            let key = CurveKeys.z85(frames[6]) ?? "?"
            let ok = String(decoding: frames[5], as: UTF8.self) == "CURVE" && authorized.contains(key)
            if !ok { log("refused a connection with an unauthorised key \(key)") }
            try? socket.send([Array("1.0".utf8), frames[1], Array((ok ? "200" : "400").utf8),
                              Array((ok ? "OK" : "unauthorised key").utf8), ok ? Array(key.utf8) : [], []])
        }
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        while thread?.isFinished == false { usleep(10_000) }
    }
}
