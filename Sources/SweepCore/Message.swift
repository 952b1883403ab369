import Foundation

/// Wire messages between coordinator and workers: one frame of
/// `"XLSW"` · version (u16 LE) · type (u8) · body length (u32 LE) · body (a JSON object).
/// Anything that is not exactly that — wrong magic, version, type, length, or JSON — is rejected
/// with a reason, never trusted.
public struct Message: Sendable, Equatable {
    /// 2: `refused` (worker → coordinator), `ack` (the coordinator's answer to a heartbeat).
    /// 3: `abandoned` (a stopped worker gives its task back) and `stop` (the coordinator drains).
    public static let version: UInt16 = 3
    static let magic: [UInt8] = Array("XLSW".utf8)
    static let headerSize = 11
    /// Bodies above this size are refused before they are parsed (a welcome carries the config).
    public static let maxBodyBytes = 8 << 20

    public enum Kind: UInt8, Sendable {
        // worker → coordinator
        case hello = 1, request = 2, heartbeat = 3, done = 4, failed = 5, bye = 6
        /// A worker that cannot work on the sweep (cannot start, or derives another plan), and why.
        case refused = 7
        /// A worker that was stopped (signal, preemption, time limit) gives its task back unfinished.
        case abandoned = 8
        // coordinator → worker
        case welcome = 10, task = 11, wait = 12, shutdown = 13, ack = 14
        /// The sweep is stopping (the coordinator was signalled): finish the current task within
        /// `grace_seconds` or give it back, then leave.
        case stop = 15
        // anyone → coordinator, and its answer
        case status = 20, statusReply = 21
    }

    public let kind: Kind
    public let body: [String: String]

    public init(_ kind: Kind, _ body: [String: String] = [:]) {
        self.kind = kind
        self.body = body
    }

    public func encode() -> [UInt8] {
        let json = FlatJSON.encode(body)
        var out = Self.magic
        out += withUnsafeBytes(of: Self.version.littleEndian, Array.init)
        out.append(kind.rawValue)
        out += withUnsafeBytes(of: UInt32(json.count).littleEndian, Array.init)
        out += json
        return out
    }

    public static func decode(_ frame: [UInt8]) throws -> Message {
        guard frame.count >= headerSize else { throw SweepError("frame of \(frame.count) bytes is shorter than a header") }
        guard Array(frame[0..<4]) == magic else { throw SweepError("bad magic") }
        let version = UInt16(frame[4]) | UInt16(frame[5]) << 8
        guard version == Self.version else { throw SweepError("protocol version \(version), expected \(Self.version)") }
        guard let kind = Kind(rawValue: frame[6]) else { throw SweepError("unknown message type \(frame[6])") }
        let length = Int(UInt32(frame[7]) | UInt32(frame[8]) << 8 | UInt32(frame[9]) << 16 | UInt32(frame[10]) << 24)
        guard frame.count == headerSize + length else {
            throw SweepError("body length \(length) but \(frame.count - headerSize) bytes follow the header")
        }
        guard length <= maxBodyBytes else { throw SweepError("body of \(length) bytes is above the limit of \(maxBodyBytes)") }
        // Only an object of strings is parsed (FlatJSON: strict, and no general JSON parser on the wire).
        let body: [String: String]
        do {
            body = try FlatJSON.decode(frame[headerSize...])
        } catch FlatJSON.Failure.notAString(let field) {
            throw SweepError("field '\(field)' is not a string")
        } catch {
            throw SweepError("body is not a JSON object")
        }
        guard body.count <= 64 else { throw SweepError("body has \(body.count) fields (at most 64)") }
        return Message(kind, body)
    }
}
