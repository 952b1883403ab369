import Foundation

/// A `tokenizers` pattern: a literal string or an Oniguruma regex, run here with ICU through
/// NSRegularExpression. `\s` is widened to Oniguruma's Unicode White_Space class, which ICU's
/// `\s` lacks U+000B and U+0085 from.
struct Pattern: @unchecked Sendable {
    let regex: NSRegularExpression

    init(json: JSONObject, key: String) throws {
        let pattern = try json.object(key)
        if let literal = pattern.optionalString("String") {
            regex = try NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: literal))
        } else if let source = pattern.optionalString("Regex") {
            do {
                regex = try NSRegularExpression(pattern: Self.oniguruma(source))
            } catch {
                throw json.fail(key, "regex \(source) is not supported: \(error)")
            }
        } else {
            throw json.fail(key, "expected {\"String\": …} or {\"Regex\": …}")
        }
    }

    static func oniguruma(_ source: String) -> String {
        var out = ""
        var depth = 0
        var escaped = false
        for c in source {
            if escaped {
                escaped = false
                if c == "s" {
                    out += depth > 0 ? "\\t\\n\\u000B\\f\\r\\u0085\\p{Z}" : "[\\t\\n\\u000B\\f\\r\\u0085\\p{Z}]"
                } else {
                    out += "\\" + String(c)
                }
                continue
            }
            switch c {
            case "\\": escaped = true; continue
            case "[": depth += 1
            case "]": depth = max(0, depth - 1)
            default: break
            }
            out.append(c)
        }
        return out
    }

    /// Matches in `text` as String ranges, left to right, non-overlapping. The indices are made
    /// from UTF-16 offsets, so they may fall inside a grapheme cluster (a Devanagari consonant
    /// before its nukta or vowel sign), as the regex's do: `Range(_:in:)` would refuse those.
    func matches(in text: String) -> [Range<String.Index>] {
        let ns = NSRange(text.startIndex..<text.endIndex, in: text)
        let u = text.utf16
        return regex.matches(in: text, range: ns).compactMap { m in
            guard m.range.length > 0 else { return nil }
            let lo = u.index(u.startIndex, offsetBy: m.range.location)
            return lo..<u.index(lo, offsetBy: m.range.length)
        }
    }

    func replacingAll(in text: String, with replacement: String) -> String {
        let ns = NSRange(text.startIndex..<text.endIndex, in: text)
        return regex.stringByReplacingMatches(in: text, range: ns,
                                              withTemplate: NSRegularExpression.escapedTemplate(for: replacement))
    }
}

/// How `Split` treats the delimiters it finds (tokenizers' SplitDelimiterBehavior).
enum SplitBehavior: String {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// Splits `text` into pieces around `matches` (sorted, disjoint); empty pieces are dropped.
    /// Pieces are cut by Unicode scalars, not Characters (a match may end inside a cluster).
    func split(_ text: String, matches: [Range<String.Index>], invert: Bool = false) -> [String] {
        let scalars = text.unicodeScalars
        func piece(_ r: Range<String.Index>) -> String { String(scalars[r]) }
        // (range, isDelimiter) covering the whole string.
        var parts: [(Range<String.Index>, Bool)] = []
        var cursor = text.startIndex
        for m in matches {
            if cursor < m.lowerBound { parts.append((cursor..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            cursor = m.upperBound
        }
        if cursor < text.endIndex { parts.append((cursor..<text.endIndex, invert)) }
        var out: [String] = []
        switch self {
        case .isolated:
            out = parts.map { piece($0.0) }
        case .removed:
            out = parts.filter { !$0.1 }.map { piece($0.0) }
        case .mergedWithPrevious:
            var current = ""
            for (r, delimiter) in parts {
                current += piece(r)
                if delimiter { out.append(current); current = "" }
            }
            if !current.isEmpty { out.append(current) }
        case .mergedWithNext:
            var current = ""
            for (r, delimiter) in parts {
                if delimiter && !current.isEmpty { out.append(current); current = "" }
                current += piece(r)
            }
            if !current.isEmpty { out.append(current) }
        case .contiguous:
            var current = ""
            var currentIsDelimiter: Bool?
            for (r, delimiter) in parts {
                if let d = currentIsDelimiter, d == delimiter && delimiter {
                    current += piece(r)
                } else {
                    if !current.isEmpty { out.append(current) }
                    current = piece(r)
                }
                currentIsDelimiter = delimiter
            }
            if !current.isEmpty { out.append(current) }
        }
        return out.filter { !$0.isEmpty }
    }
}
