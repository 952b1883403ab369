import Foundation

/// SentencePiece's `precompiled_charsmap` normalizer (e.g. nmt_nfkc) as the Hugging Face
/// `tokenizers` `Precompiled` normalizer applies it. Blob layout: u32 LE trie size in bytes, a
/// darts-clone double-array trie of u32 units keyed by UTF-8 bytes, then NUL-terminated
/// replacement strings the trie's values point into (sentencepiece normalizer.cc).
struct PrecompiledCharsmap {
    let units: [UInt32]
    let normalized: [UInt8]

    init(base64: String, path: String) throws {
        guard let data = Data(base64Encoded: base64), data.count >= 4 else {
            throw TokenizerError(path: path, key: "normalizer.precompiled_charsmap", detail: "not valid base64 charsmap")
        }
        let bytes = [UInt8](data)
        let trieSize = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieSize % 4 == 0, 4 + trieSize <= bytes.count else {
            throw TokenizerError(path: path, key: "normalizer.precompiled_charsmap",
                                 detail: "trie of \(trieSize) bytes exceeds the \(bytes.count)-byte blob")
        }
        var units = [UInt32](repeating: 0, count: trieSize / 4)
        for i in 0..<units.count {
            let p = 4 + 4 * i
            units[i] = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        }
        self.units = units
        self.normalized = Array(bytes[(4 + trieSize)...])
    }

    // darts-clone unit accessors.
    @inline(__always) private func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private func value(_ u: UInt32) -> Int { Int(u & ((1 << 31) - 1)) }
    @inline(__always) private func label(_ u: UInt32) -> UInt32 { u & ((1 << 31) | 0xFF) }
    @inline(__always) private func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// The value of the shortest key that is a prefix of `key` (tokenizers takes the first
    /// common-prefix-search result).
    func firstPrefixValue<S: Sequence>(_ key: S) -> Int? where S.Element == UInt8 {
        guard !units.isEmpty else { return nil }
        var node = offset(units[0])
        for c in key {
            if c == 0 { return nil }
            node ^= Int(c)
            guard node < units.count else { return nil }
            let unit = units[node]
            if label(unit) != UInt32(c) { return nil }
            node ^= offset(unit)
            if hasLeaf(unit) { return node < units.count ? value(units[node]) : nil }
        }
        return nil
    }

    func transform(_ chunk: Substring.UTF8View) -> String? {
        guard let start = firstPrefixValue(chunk), start < normalized.count else { return nil }
        var end = start
        while end < normalized.count && normalized[end] != 0 { end += 1 }
        return String(decoding: normalized[start..<end], as: UTF8.self)
    }

    /// Graphemes shorter than 6 UTF-8 bytes are looked up whole; otherwise (or without a match)
    /// each scalar is looked up on its own — tokenizers' normalizers/precompiled.rs.
    func normalize(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let g = String(grapheme)
            if g.utf8.count < 6, let norm = transform(g[...].utf8) {
                out += norm
                continue
            }
            for scalar in g.unicodeScalars {
                let s = String(scalar)
                if let norm = transform(s[...].utf8) { out += norm } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
