import Digests
import Foundation

extension WeightStore {
    /// SHA-256 over the tensors an architecture consumes, in sorted canonical-name order: for each,
    /// its canonical name, dtype, shape and raw bytes. File format, shard layout, name prefixes and
    /// tied duplicates do not enter it, so identical weights give identical fingerprints.
    /// - Parameter canonical: canonical name → the stored name it was read from.
    public func fingerprint(canonical: [String: String]) -> String {
        var hasher = SHA256()
        for name in canonical.keys.sorted() {
            guard let t = tensors[canonical[name]!] else { continue }
            hasher.update(Array(name.utf8) + [0] + Array(t.dtype.rawValue.utf8) + [0])
            hasher.update(t.shape.map(String.init).joined(separator: ",").utf8 + [0])
            hasher.update(t.raw)
            t.file.release(offset: t.byteOffset, count: t.byteCount)   // read once: not kept resident
        }
        return "sha256:" + SHA256.hex(hasher.finalize())
    }

    /// `fingerprint(canonical:)`, remembered in `cache` under the weight files' stamps and the
    /// canonical names: a checkpoint already hashed on this machine is not read again.
    public func fingerprint(canonical: [String: String], cache: inout DigestCache) -> String {
        let names = canonical.keys.sorted().map { "\($0)=\(canonical[$0]!)" }.joined(separator: ",")
        var h = SHA256()
        h.update(Array(names.utf8))
        let key = URL(fileURLWithPath: directory).standardizedFileURL.path + " " + h.hexDigest()
        let paths = files.map { directory + "/" + $0 }
        return (try? cache.digest(key, files: paths) { fingerprint(canonical: canonical) }) ?? fingerprint(canonical: canonical)
    }
}

/// The weights fingerprint, computed on a thread of its own from the moment a model is loaded
/// (`early`): a SHA-256 stream cannot be split over cores, so the hashing runs beside the rest of
/// the work (tokenizer, forward passes) and `value` waits only for what is left of it. Otherwise
/// it is computed when first asked for (commands that may never need it, e.g. benchmarks).
public final class PendingFingerprint: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: String?
    private var started = false
    private let compute: @Sendable () -> String

    public init(early: Bool = true, _ compute: @escaping @Sendable () -> String) {
        self.compute = compute
        if early { start() }
    }

    private func start() {
        let claimed = lock.withLock { () -> Bool in
            if started { return false }
            started = true
            return true
        }
        guard claimed else { return }
        let thread = Thread { [self] in
            let value = compute()
            lock.withLock { result = value }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    public var value: String {
        if let r = lock.withLock({ result }) { return r }
        start()
        done.wait()
        done.signal()   // later callers do not wait
        return lock.withLock { result! }
    }
}
