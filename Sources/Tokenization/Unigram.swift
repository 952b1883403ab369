import Foundation

/// SentencePiece's Unigram language model tokenization (Kudo 2018): the Viterbi segmentation of
/// maximal total log-probability, as `tokenizers`' Unigram `encode_optimized`. A character no
/// piece covers costs min(score) − 10 and becomes the unknown token (consecutive ones fused).
struct UnigramModel {
    let pieces: [String]
    let scores: [Double]
    let ids: [String: Int]
    let unkId: Int?
    let byteFallback: Bool
    let unkScore: Double
    /// Trie over UTF-8 bytes: node → (byte → child), and node → piece id where a piece ends.
    private var children: [[UInt8: Int]] = [[:]]
    private var terminal: [Int?] = [nil]

    static let unknownPenalty = 10.0

    init(json: JSONObject) throws {
        guard let vocab = json.dict["vocab"] as? [[Any]] else { throw json.fail("vocab", "expected [[piece, score], …]") }
        var pieces: [String] = [], scores: [Double] = [], ids: [String: Int] = [:]
        for (i, entry) in vocab.enumerated() {
            guard entry.count == 2, let piece = entry[0] as? String, let score = (entry[1] as? NSNumber)?.doubleValue
            else { throw json.fail("vocab[\(i)]", "expected [piece, score]") }
            pieces.append(piece)
            scores.append(score)
            if ids[piece] == nil { ids[piece] = i }
        }
        self.pieces = pieces
        self.scores = scores
        self.ids = ids
        unkId = json.dict["unk_id"] as? Int
        byteFallback = json.bool("byte_fallback", default: false)
        unkScore = (scores.min() ?? 0) - Self.unknownPenalty
        if let u = unkId, u >= pieces.count || u < 0 { throw json.fail("unk_id", "\(u) is outside the vocabulary") }
        for (id, piece) in pieces.enumerated() { insert(piece, id) }
    }

    private mutating func insert(_ piece: String, _ id: Int) {
        var node = 0
        for b in piece.utf8 {
            if let next = children[node][b] {
                node = next
            } else {
                children.append([:])
                terminal.append(nil)
                children[node][b] = children.count - 1
                node = children.count - 1
            }
        }
        if terminal[node] == nil { terminal[node] = id }
    }

    func tokenize(_ text: String) -> [Int] {
        let bytes = Array(text.utf8)
        let n = bytes.count
        guard n > 0 else { return [] }
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestId = [Int](repeating: -1, count: n + 1)
        bestStart[0] = 0
        var start = 0
        while start < n {
            let charLength = Self.utf8Length(bytes[start])
            let base = bestScore[start]
            var hasSingleNode = false
            var node = 0
            var end = start
            while end < n, let next = children[node][bytes[end]] {
                node = next
                end += 1
                if let id = terminal[node] {
                    let candidate = scores[id] + base
                    if bestStart[end] < 0 || candidate > bestScore[end] {
                        bestScore[end] = candidate; bestStart[end] = start; bestId[end] = id
                    }
                    if end - start == charLength { hasSingleNode = true }
                }
            }
            if !hasSingleNode, let unk = unkId {
                let end = min(n, start + charLength)
                let candidate = unkScore + base
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate; bestStart[end] = start; bestId[end] = unk
                }
            }
            start += charLength
        }
        // Backtrack, fusing consecutive unknowns.
        var out: [(id: Int, start: Int, end: Int)] = []
        var end = n
        while end > 0 {
            let s = bestStart[end]
            guard s >= 0 else { break }
            out.append((bestId[end], s, end))
            end = s
        }
        out.reverse()
        var ids: [Int] = []
        for (i, t) in out.enumerated() {
            if t.id == unkId {
                if byteFallback {
                    let fallback = bytes[t.start..<t.end].compactMap { self.ids[String(decoding: BPEModel.byteToken($0), as: UTF8.self)] }
                    if fallback.count == t.end - t.start { ids += fallback; continue }
                }
                if i > 0 && out[i - 1].id == unkId && !byteFallback { continue }
            }
            ids.append(t.id)
        }
        return ids
    }

    static func utf8Length(_ lead: UInt8) -> Int {
        if lead < 0x80 { return 1 }
        if lead >> 5 == 0b110 { return 2 }
        if lead >> 4 == 0b1110 { return 3 }
        return 4
    }
}

