import CKernelSupport
import Foundation

/// SHA-256 (FIPS 180-4), streaming: weight fingerprints, fragment checksums, task seeds.
public struct SHA256: Sendable {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    /// Whether the compression uses the CPU's SHA extensions (same results; see sha256.c).
    private let extensions: Int32

    /// The compression this process uses: the SHA extensions where the CPU has them.
    public static let accelerated: Bool = xl_sha256_has_extensions() != 0
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    public init() { self.init(accelerated: Self.accelerated) }

    /// `accelerated: false` takes the portable compression even where the CPU has SHA extensions (tests).
    public init(accelerated: Bool) {
        extensions = accelerated && Self.accelerated ? 1 : 0
        buffer.reserveCapacity(64)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        var i = 0
        if !buffer.isEmpty {
            while i < bytes.count && buffer.count < 64 { buffer.append(bytes[i]); i += 1 }
            if buffer.count == 64 {
                buffer.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let whole = (bytes.count - i) / 64
        if whole > 0 {
            compress(bytes.baseAddress! + i, blocks: whole)
            i += whole * 64
        }
        while i < bytes.count { buffer.append(bytes[i]); i += 1 }
    }

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update($0) }
    }

    public mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (Int(length) + tail.count) % 64 != 56 { tail.append(0) }
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        let saved = length
        update(tail)
        length = saved
        return h.flatMap { w in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: w >> $0) } }
    }

    /// Lowercase hex SHA-256 of a file's bytes (read 1 MiB at a time), or nil when it cannot be read.
    public static func hexDigest(ofFile path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch { return nil }
            guard let chunk, !chunk.isEmpty else { break }   // nil or empty: end of file
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.hexDigest()
    }

    /// Finishes and returns the lowercase hex digest.
    public mutating func hexDigest() -> String { Self.hex(finalize()) }

    public static func hex(_ digest: [UInt8]) -> String {
        digest.map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }.joined()
    }

    private mutating func compress(_ p: UnsafeRawPointer, blocks: Int) {
        let e = extensions
        h.withUnsafeMutableBufferPointer { state in
            xl_sha256_blocks(e, state.baseAddress!, p.assumingMemoryBound(to: UInt8.self), blocks)
        }
    }
}
