import Foundation

/// Text normalizers of `tokenizer.json` ("normalizer"), applied before pre-tokenization.
indirect enum Normalizer {
    case sequence([Normalizer])
    case precompiled(PrecompiledCharsmap)
    case replace(Pattern, String)
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case lowercase
    case nfc, nfd, nfkc, nfkd

    init(json: JSONObject) throws {
        switch json.type {
        case "Sequence":
            self = .sequence(try json.objects("normalizers").map(Normalizer.init))
        case "Precompiled":
            self = .precompiled(try PrecompiledCharsmap(base64: try json.string("precompiled_charsmap"), path: json.path))
        case "Replace":
            self = .replace(try Pattern(json: json, key: "pattern"), try json.string("content"))
        case "Strip":
            self = .strip(left: json.bool("strip_left", default: true), right: json.bool("strip_right", default: true))
        case "Prepend":
            self = .prepend(try json.string("prepend"))
        case "Lowercase": self = .lowercase
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        default:
            throw json.fail("type", "normalizer '\(json.type)' is not supported")
        }
    }

    func normalize(_ text: String) -> String {
        switch self {
        case .sequence(let steps): return steps.reduce(text) { $1.normalize($0) }
        case .precompiled(let map): return map.normalize(text)
        case .replace(let pattern, let content): return pattern.replacingAll(in: text, with: content)
        case .strip(let left, let right):
            var scalars = Substring(text).unicodeScalars
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            return String(scalars)
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        case .lowercase: return text.lowercased()
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        }
    }
}
