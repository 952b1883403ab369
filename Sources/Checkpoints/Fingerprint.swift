import Kernels

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
        }
        return "sha256:" + SHA256.hex(hasher.finalize())
    }
}
