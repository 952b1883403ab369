/// Byte-pair encoding (Sennrich et al. 2016) as `tokenizers`' BPE model: a word starts as its
/// characters and the adjacent pair of lowest merge rank is merged until none applies.
struct BPEModel {
    /// Token → id, keyed by exact UTF-8 bytes (see `ExactJSON`).
    let vocab: [[UInt8]: Int]
    /// (left id, right id) → (rank, merged id).
    let merges: [Pair: (rank: Int, id: Int)]
    let unkToken: String?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: String
    let endOfWordSuffix: String

    struct Pair: Hashable { let left: Int; let right: Int }

    /// `exactVocab`: `model.vocab`'s members read byte for byte from the file.
    init(json: JSONObject, exactVocab: [(key: [UInt8], value: Int)]?) throws {
        guard let entries = exactVocab else { throw json.fail("vocab", "expected token → id") }
        var vocab: [[UInt8]: Int] = [:]
        vocab.reserveCapacity(entries.count)
        for (k, v) in entries { vocab[k] = v }
        self.vocab = vocab
        unkToken = json.optionalString("unk_token")
        fuseUnk = json.bool("fuse_unk", default: false)
        byteFallback = json.bool("byte_fallback", default: false)
        ignoreMerges = json.bool("ignore_merges", default: false)
        continuingSubwordPrefix = json.optionalString("continuing_subword_prefix") ?? ""
        endOfWordSuffix = json.optionalString("end_of_word_suffix") ?? ""
        guard let list = json.dict["merges"] as? [Any] else { throw json.fail("merges", "expected a list") }
        var merges: [Pair: (Int, Int)] = [:]
        for (rank, entry) in list.enumerated() {
            let parts: [String]
            if let s = entry as? String {
                parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            } else if let a = entry as? [String] {
                parts = a
            } else {
                throw json.fail("merges[\(rank)]", "expected \"a b\" or [a, b]")
            }
            guard parts.count == 2, let l = vocab[Array(parts[0].utf8)], let r = vocab[Array(parts[1].utf8)] else {
                throw json.fail("merges[\(rank)]", "merge \(parts) names tokens missing from the vocabulary")
            }
            let prefixLength = continuingSubwordPrefix.count
            let rightBare = prefixLength > 0 && parts[1].hasPrefix(continuingSubwordPrefix)
                ? String(parts[1].dropFirst(prefixLength)) : parts[1]
            guard let merged = vocab[Array(parts[0].utf8) + Array(rightBare.utf8)] else {
                throw json.fail("merges[\(rank)]", "merged token '\(parts[0] + rightBare)' is missing from the vocabulary")
            }
            if merges[Pair(left: l, right: r)] == nil { merges[Pair(left: l, right: r)] = (rank, merged) }
        }
        self.merges = merges
    }

    /// The ids of one pre-tokenized word. A word starts as its Unicode scalars (Rust `char`s, as
    /// in `tokenizers`; not Swift's grapheme clusters, which fuse combining marks).
    func tokenize(_ word: String) -> [Int] {
        if ignoreMerges, let id = vocab[Array(word.utf8)] { return [id] }
        var symbols: [Int] = []
        var pendingUnk = false
        let chars = Array(word.unicodeScalars)
        let prefix = Array(continuingSubwordPrefix.utf8), suffix = Array(endOfWordSuffix.utf8)
        for (i, c) in chars.enumerated() {
            let utf8 = Array(String(c).utf8)
            var s = utf8
            if i > 0 { s = prefix + s }
            if i == chars.count - 1 { s += suffix }
            if let id = vocab[s] {
                symbols.append(id)
                pendingUnk = false
            } else if byteFallback, case let bytes = utf8.compactMap({ vocab[Self.byteToken($0)] }), bytes.count == utf8.count {
                symbols += bytes
                pendingUnk = false
            } else if let unk = unkToken, let unkId = vocab[Array(unk.utf8)] {
                if !(fuseUnk && pendingUnk) { symbols.append(unkId) }
                pendingUnk = true
            }
        }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int, id: Int)?
            for i in 0..<(symbols.count - 1) {
                if let m = merges[Pair(left: symbols[i], right: symbols[i + 1])], m.rank < (best?.rank ?? Int.max) {
                    best = (m.rank, i, m.id)
                }
            }
            guard let b = best else { break }
            symbols[b.index] = b.id
            symbols.remove(at: b.index + 1)
        }
        return symbols
    }

    static func byteToken(_ b: UInt8) -> [UInt8] {
        let hex = String(b, radix: 16, uppercase: true)
        return Array(("<0x" + (hex.count == 1 ? "0" + hex : hex) + ">").utf8)
    }
}
