import Foundation

/// A tokenizer read from a Hugging Face `tokenizer.json`, producing exactly the ids of the
/// `tokenizers` library: added tokens are split out first, the rest is normalized,
/// pre-tokenized and run through the model (BPE or Unigram), then the post-processor adds
/// special tokens (e.g. XGLM's leading `</s>`).
public struct Tokenizer: @unchecked Sendable {
    enum Model {
        case bpe(BPEModel)
        case unigram(UnigramModel)
    }

    struct AddedToken {
        let id: Int
        let content: String
        let special: Bool
        let normalized: Bool
        let lstrip: Bool
        let rstrip: Bool
        let singleWord: Bool
    }

    let model: Model
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let decoder: Decoder?
    let added: [AddedToken]
    /// Added tokens by first scalar, in file order, for each `normalizedOnly` case (index 0: false).
    let addedIndex: [[Unicode.Scalar: [(content: [Unicode.Scalar], token: AddedToken)]]]
    /// Template of the post-processor for one sequence: nil entries stand for the sequence.
    let template: [Int?]
    public let path: String
    /// id → token string, for decoding and display.
    public let idToToken: [Int: String]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(path: path, key: "", detail: "no such file")
        }
        let bytes = [UInt8](data)
        guard let dict = try? JSONSerialization.jsonObject(with: Data(ExactJSON.escapingByteOrderMarks(bytes))) as? [String: Any] else {
            throw TokenizerError(path: path, key: "", detail: "not a JSON object")
        }
        let root = JSONObject(path: path, keyPath: "", dict: dict)
        let modelJSON = try root.object("model")
        let type = modelJSON.optionalString("type") ?? (modelJSON.dict["merges"] != nil ? "BPE" : "?")
        switch type {
        case "BPE":
            let exact: [(key: [UInt8], value: Int)]?
            do {
                exact = try ExactJSON.integerMembers(of: bytes, at: ["model", "vocab"])
            } catch let f as ExactJSON.Failure {
                throw TokenizerError(path: path, key: "model.vocab", detail: "\(f.detail) at byte \(f.offset)")
            }
            model = .bpe(try BPEModel(json: modelJSON, exactVocab: exact))
        case "Unigram": model = .unigram(try UnigramModel(json: modelJSON))
        default: throw modelJSON.fail("type", "model '\(type)' is not supported (BPE, Unigram)")
        }
        normalizer = try root.optionalObject("normalizer").map(Normalizer.init)
        preTokenizer = try root.optionalObject("pre_tokenizer").map(PreTokenizer.init)
        decoder = try root.optionalObject("decoder").map(Decoder.init)
        let addedJSON = (dict["added_tokens"] as? [[String: Any]]) ?? []
        added = try addedJSON.enumerated().map { i, d in
            let o = JSONObject(path: path, keyPath: "added_tokens[\(i)]", dict: d)
            guard let id = d["id"] as? Int else { throw o.fail("id", "expected an integer") }
            return AddedToken(id: id, content: try o.string("content"), special: o.bool("special", default: false),
                              normalized: o.bool("normalized", default: false), lstrip: o.bool("lstrip", default: false),
                              rstrip: o.bool("rstrip", default: false), singleWord: o.bool("single_word", default: false))
        }
        var idToToken: [Int: String] = [:]
        switch model {
        case .bpe(let m): for (t, i) in m.vocab { idToToken[i] = String(decoding: t, as: UTF8.self) }
        case .unigram(let m): for (i, t) in m.pieces.enumerated() { idToToken[i] = t }
        }
        for a in added { idToToken[a.id] = a.content }
        self.idToToken = idToToken
        self.path = path
        let addedTokens = added
        addedIndex = [false, true].map { normalizedOnly in
            var index: [Unicode.Scalar: [(content: [Unicode.Scalar], token: AddedToken)]] = [:]
            for t in addedTokens where normalizedOnly ? (t.normalized && !t.special) : !(t.normalized && !t.special) {
                let c = Array(t.content.unicodeScalars)
                if let first = c.first { index[first, default: []].append((c, t)) }
            }
            return index
        }
        template = try Self.template(root.optionalObject("post_processor"))
    }

    static func template(_ json: JSONObject?) throws -> [Int?] {
        guard let json else { return [nil] }
        switch json.type {
        case "TemplateProcessing":
            guard let single = json.dict["single"] as? [[String: Any]] else { throw json.fail("single", "expected a list") }
            let specials = json.dict["special_tokens"] as? [String: [String: Any]] ?? [:]
            var out: [Int?] = []
            for item in single {
                if item["Sequence"] != nil {
                    out.append(nil)
                } else if let s = item["SpecialToken"] as? [String: Any], let name = s["id"] as? String {
                    guard let ids = specials[name]?["ids"] as? [Int] else {
                        throw json.fail("special_tokens", "'\(name)' has no ids")
                    }
                    out += ids.map { Optional($0) }
                }
            }
            return out
        case "ByteLevel":
            return [nil]
        case "Sequence":
            // Only a ByteLevel + TemplateProcessing chain changes ids; use the template if present.
            let steps = try json.objects("processors")
            return try steps.first(where: { $0.type == "TemplateProcessing" }).map { try template($0) } ?? [nil]
        default:
            throw json.fail("type", "post-processor '\(json.type)' is not supported")
        }
    }

    /// Token ids of `text`, with the post-processor's special tokens when `addSpecialTokens`.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        for (index, segment) in splitAddedTokens(text).enumerated() {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let raw, let atStart):
                let normalized = normalizer?.normalize(raw) ?? raw
                // Normalized added tokens are matched after normalization.
                for part in splitAdded(normalized, normalizedOnly: true) {
                    switch part {
                    case .token(let id): ids.append(id)
                    case .text(let s, _):
                        guard !s.isEmpty else { continue }
                        let words = preTokenizer?.apply([s], isFirst: atStart && index == 0) ?? [s]
                        for w in words { ids += tokenize(word: w) }
                    }
                }
            }
        }
        guard addSpecialTokens else { return ids }
        return template.flatMap { $0.map { [$0] } ?? ids }
    }

    func tokenize(word: String) -> [Int] {
        switch model {
        case .bpe(let m): return m.tokenize(word)
        case .unigram(let m): return m.tokenize(word)
        }
    }

    enum Segment {
        case text(String, atStart: Bool)
        case token(Int)
    }

    func splitAddedTokens(_ text: String) -> [Segment] { splitAdded(text, normalizedOnly: false) }

    /// Splits out added tokens, leftmost-longest (tokenizers' AddedVocabulary); lstrip/rstrip absorb
    /// adjacent whitespace and single_word requires word boundaries.
    func splitAdded(_ text: String, normalizedOnly: Bool) -> [Segment] {
        let index = addedIndex[normalizedOnly ? 1 : 0]
        guard !index.isEmpty, !text.isEmpty else { return [.text(text, atStart: true)] }
        var segments: [Segment] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        var textStart = 0
        func flush(_ end: Int) {
            if end > textStart {
                var v = String.UnicodeScalarView()
                v.append(contentsOf: scalars[textStart..<end])
                segments.append(.text(String(v), atStart: textStart == 0))
            }
        }
        while i < scalars.count {
            var best: (token: AddedToken, length: Int)?
            for (c, t) in index[scalars[i]] ?? [] {
                guard i + c.count <= scalars.count, c.count > (best?.length ?? 0),
                      scalars[i..<(i + c.count)].elementsEqual(c) else { continue }
                if t.singleWord {
                    let before = i == 0 || !Self.isWordScalar(scalars[i - 1])
                    let after = i + c.count == scalars.count || !Self.isWordScalar(scalars[i + c.count])
                    if !(before && after) { continue }
                }
                best = (t, c.count)
            }
            guard let match = best else { i += 1; continue }
            var start = i
            if match.token.lstrip { while start > textStart && scalars[start - 1].properties.isWhitespace { start -= 1 } }
            var end = i + match.length
            if match.token.rstrip { while end < scalars.count && scalars[end].properties.isWhitespace { end += 1 } }
            flush(start)
            segments.append(.token(match.token.id))
            i = end
            textStart = end
        }
        flush(scalars.count)
        return segments
    }

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool { s.properties.isAlphabetic || s.properties.numericType != nil || s == "_" }

    /// Text of `ids`; special added tokens are left out when `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        let specials = Set(added.filter(\.special).map(\.id))
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens && specials.contains(id) { return nil }
            return idToToken[id]
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// Ids of the special added tokens (BOS/EOS/padding-like), which are not probed or pooled.
    public var specialTokenIDs: Set<Int> { Set(added.filter(\.special).map(\.id)) }

    /// Number of ids the model can produce (largest id + 1).
    public var vocabularySize: Int { (idToToken.keys.max() ?? -1) + 1 }

    /// Id of a token string (vocabulary or added token).
    public func id(of token: String) -> Int? {
        if let a = added.first(where: { $0.content == token }) { return a.id }
        switch model {
        case .bpe(let m): return m.vocab[Array(token.utf8)]
        case .unigram(let m): return m.ids[token]
        }
    }
}
