import Foundation

/// Pre-tokenizers of `tokenizer.json` ("pre_tokenizer"): each turns one piece into several.
indirect enum PreTokenizer {
    case sequence([PreTokenizer])
    case split(Pattern, SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, regex: Pattern?)
    /// `prependScheme`: "always", "first" or "never".
    case metaspace(replacement: String, prependScheme: String, split: Bool)
    case whitespaceSplit

    init(json: JSONObject) throws {
        switch json.type {
        case "Sequence":
            self = .sequence(try json.objects("pretokenizers").map(PreTokenizer.init))
        case "Split":
            guard let behavior = SplitBehavior(rawValue: try json.string("behavior")) else {
                throw json.fail("behavior", "unknown split behavior")
            }
            self = .split(try Pattern(json: json, key: "pattern"), behavior, invert: json.bool("invert", default: false))
        case "ByteLevel":
            let regex = json.bool("use_regex", default: true)
                ? try Pattern(json: JSONObject(path: json.path, keyPath: json.keyPath,
                                               dict: ["p": ["Regex": ByteLevel.gpt2Pattern]]), key: "p")
                : nil
            self = .byteLevel(addPrefixSpace: json.bool("add_prefix_space", default: true), regex: regex)
        case "Metaspace":
            let replacement = json.optionalString("replacement") ?? "▁"
            // Older files say add_prefix_space instead of prepend_scheme.
            let scheme = json.optionalString("prepend_scheme")
                ?? (json.bool("add_prefix_space", default: true) ? "always" : "never")
            self = .metaspace(replacement: replacement, prependScheme: scheme, split: json.bool("split", default: true))
        case "WhitespaceSplit":
            self = .whitespaceSplit
        default:
            throw json.fail("type", "pre-tokenizer '\(json.type)' is not supported")
        }
    }

    /// - Parameter isFirst: whether `piece` starts the original text (Metaspace's "first" scheme).
    func apply(_ pieces: [String], isFirst: Bool) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(pieces) { $1.apply($0, isFirst: isFirst) }
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { behavior.split($0, matches: pattern.matches(in: $0), invert: invert) }
        case .byteLevel(let addPrefixSpace, let regex):
            return pieces.flatMap { piece -> [String] in
                let spaced = addPrefixSpace && !piece.hasPrefix(" ") ? " " + piece : piece
                let parts = regex.map { SplitBehavior.isolated.split(spaced, matches: $0.matches(in: spaced)) } ?? [spaced]
                return parts.map(ByteLevel.encode)
            }
        case .metaspace(let replacement, let scheme, let split):
            return pieces.enumerated().flatMap { index, piece -> [String] in
                var s = piece.replacingOccurrences(of: " ", with: replacement)
                if !s.hasPrefix(replacement) && (scheme == "always" || (scheme == "first" && isFirst && index == 0)) {
                    s = replacement + s
                }
                guard split else { return [s] }
                // Split before every replacement scalar (MergedWithNext), scalar by scalar.
                let mark = replacement.unicodeScalars.first
                var out: [String] = []
                var current = String.UnicodeScalarView()
                for c in s.unicodeScalars {
                    if c == mark && !current.isEmpty { out.append(String(current)); current = .init() }
                    current.append(c)
                }
                if !current.isEmpty { out.append(String(current)) }
                return out
            }
        case .whitespaceSplit:
            return pieces.flatMap { $0.split(whereSeparator: { $0.isWhitespace }).map(String.init) }
        }
    }
}
