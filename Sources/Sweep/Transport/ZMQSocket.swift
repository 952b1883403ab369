import CZeroMQ
import Foundation

/// A thin owner of one ZeroMQ socket (and, for simplicity, its own context). Sockets are not
/// thread-safe: each is used by one thread. LINGER is 0 so closing never hangs (PLATFORM.md).
public final class ZMQSocket {
    public enum Kind { case router, dealer }

    let context: UnsafeMutableRawPointer
    let socket: UnsafeMutableRawPointer

    public init(_ kind: Kind) throws {
        guard let ctx = zmq_ctx_new() else { throw SweepError("zmq: cannot create a context") }
        guard let s = zmq_socket(ctx, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else {
            zmq_ctx_term(ctx)
            throw SweepError("zmq: cannot create a socket: \(Self.lastError)")
        }
        context = ctx
        socket = s
        try setInt(ZMQ_LINGER, 0)
        var limit: Int64 = 1 << 24   // a frame larger than 16 MiB is refused by ZeroMQ itself
        guard zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &limit, MemoryLayout<Int64>.size) == 0 else {
            throw SweepError("zmq: setsockopt ZMQ_MAXMSGSIZE: \(Self.lastError)")
        }
    }

    deinit {
        zmq_close(socket)
        zmq_ctx_term(context)
    }

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
        return String(cString: buffer)
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

/// CURVE key pairs (Z85 text), as `zmq_curve_keypair` makes them.
public enum CurveKeys {
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw SweepError("zmq: CURVE is not available: \(ZMQSocket.lastError)") }
        return (String(cString: pub), String(cString: sec))
    }
}
