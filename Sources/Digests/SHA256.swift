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

    /// Lowercase hex SHA-256 of a file's bytes, or nil when it cannot be read. Read 1 MiB at a time
    /// into one buffer (it stays in L2 between the read and the hash; a new `Data` per block made
    /// the kernel map and clear fresh pages for every one).
    public static func hexDigest(ofFile path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let n = read(fd, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: n))
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
