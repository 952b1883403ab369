import Foundation

/// Decoders of `tokenizer.json` ("decoder"): token strings back to text.
indirect enum Decoder {
    case sequence([Decoder])
    case byteLevel
    case metaspace(replacement: String, stripLeading: Bool)
    case replace(Pattern, String)
    case byteFallback
    case fuse
    case strip(content: String, start: Int, stop: Int)

    init(json: JSONObject) throws {
        switch json.type {
        case "Sequence": self = .sequence(try json.objects("decoders").map(Decoder.init))
        case "ByteLevel": self = .byteLevel
        case "Metaspace":
            let scheme = json.optionalString("prepend_scheme")
                ?? (json.bool("add_prefix_space", default: true) ? "always" : "never")
            self = .metaspace(replacement: json.optionalString("replacement") ?? "▁", stripLeading: scheme != "never")
        case "Replace": self = .replace(try Pattern(json: json, key: "pattern"), try json.string("content"))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            self = .strip(content: json.optionalString("content") ?? " ", start: json.dict["start"] as? Int ?? 0,
                          stop: json.dict["stop"] as? Int ?? 0)
        default: throw json.fail("type", "decoder '\(json.type)' is not supported")
        }
    }

    /// Transforms the token strings (tokenizers' `decode_chain`).
    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps): return steps.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            return [String(decoding: tokens.flatMap(ByteLevel.decodeBytes), as: UTF8.self)]
        case .metaspace(let replacement, let stripLeading):
            return tokens.enumerated().map { i, t in
                var s = t.replacingOccurrences(of: replacement, with: " ")
                if i == 0 && stripLeading && s.hasPrefix(" ") { s.removeFirst() }
                return s
            }
        case .replace(let pattern, let content): return tokens.map { pattern.replacingAll(in: $0, with: content) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                if pending.isEmpty { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for t in tokens {
                if t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse: return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                var s = Substring(t)
                for _ in 0..<start where s.hasPrefix(content) { s = s.dropFirst(content.count) }
                for _ in 0..<stop where s.hasSuffix(content) { s = s.dropLast(content.count) }
                return String(s)
            }
        }
    }
}
