import Crypto
import Foundation

/// SHA-256, streaming: weight fingerprints, fragment checksums, task seeds and input digests.
/// swift-crypto's (BoringSSL: SHA extensions on x86 where the CPU has them) behind the small API the
/// rest of xlsweep uses; measured as fast as the kernels' own it replaced (BENCHMARKS).
public struct SHA256: @unchecked Sendable {   // a value: swift-crypto's hasher is a struct (not marked Sendable in 3.x)
    private var hasher = Crypto.SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// The 32 digest bytes (the hasher is spent).
    public mutating func finalize() -> [UInt8] { Array(hasher.finalize()) }

    /// Finishes and returns the lowercase hex digest.
    public mutating func hexDigest() -> String { Self.hex(finalize()) }

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

    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
