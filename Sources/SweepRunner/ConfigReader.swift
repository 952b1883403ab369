import Foundation
import SweepCore
import Yams

/// Strict typed reading of one YAML mapping: every key must be read, so a typo is an error naming
/// the file, line and key, with the closest known key as a suggestion.
struct ConfigReader {
    let file: String
    let path: String
    let node: Node
    let mapping: Node.Mapping
    private(set) var known: [String] = []

    init(file: String, path: String, node: Node) throws {
        self.file = file
        self.path = path
        self.node = node
        guard let m = node.mapping else {
            throw ConfigError(file: file, line: node.mark?.line, key: path, message: "expected a mapping of keys")
        }
        mapping = m
    }

    func fail(_ key: String, _ message: String, at n: Node? = nil) -> ConfigError {
        ConfigError(file: file, line: (n ?? node).mark?.line, key: path.isEmpty ? key : path + "." + key, message: message)
    }

    mutating func value(_ key: String) -> Node? {
        known.append(key)
        return mapping[key]
    }

    mutating func string(_ key: String, default d: String? = nil) throws -> String {
        guard let n = value(key) else {
            if let d { return d }
            throw fail(key, "missing (required)")
        }
        guard let s = n.scalar?.string else { throw fail(key, "expected text", at: n) }
        return s
    }

    /// One of `allowed`, with errors on the value's own line.
    mutating func choice(_ key: String, default d: String, allowed: [String]) throws -> String {
        guard let n = value(key) else { return d }
        guard let s = n.scalar?.string, allowed.contains(s) else {
            throw fail(key, "'\(n.scalar?.string ?? "?")' is not one of \(allowed.joined(separator: ", "))", at: n)
        }
        return s
    }

    mutating func optionalString(_ key: String) throws -> String? {
        guard let n = value(key) else { return nil }
        guard let s = n.scalar?.string else { throw fail(key, "expected text", at: n) }
        return s
    }

    mutating func int(_ key: String, default d: Int, range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        guard let n = value(key) else { return d }
        guard let v = n.int else { throw fail(key, "expected an integer", at: n) }
        guard range.contains(v) else { throw fail(key, "\(v) is outside \(range.lowerBound)…\(range.upperBound)", at: n) }
        return v
    }

    mutating func double(_ key: String, default d: Double, range: ClosedRange<Double>) throws -> Double {
        guard let n = value(key) else { return d }
        guard let v = n.float ?? n.int.map(Double.init) else { throw fail(key, "expected a number", at: n) }
        guard range.contains(v) else { throw fail(key, "\(v) is outside \(range.lowerBound)…\(range.upperBound)", at: n) }
        return v
    }

    mutating func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let n = value(key) else { return d }
        guard let v = n.bool else { throw fail(key, "expected true or false", at: n) }
        return v
    }

    mutating func strings(_ key: String, default d: [String]? = nil) throws -> [String] {
        guard let n = value(key) else {
            if let d { return d }
            throw fail(key, "missing (required)")
        }
        guard let seq = n.sequence else { throw fail(key, "expected a list", at: n) }
        return try seq.map { item in
            guard let s = item.scalar?.string else { throw fail(key, "expected a list of text", at: item) }
            return s
        }
    }

    /// One text or a list of them (`repo: a/b` or `repo: [a/b, c/d]`); nil when absent.
    mutating func oneOrMoreStrings(_ key: String) throws -> [String]? {
        guard let n = value(key) else { return nil }
        if let s = n.scalar?.string { return [s] }
        guard let seq = n.sequence else { throw fail(key, "expected text or a list of text", at: n) }
        return try seq.map { item in
            guard let s = item.scalar?.string else { throw fail(key, "expected a list of text", at: item) }
            return s
        }
    }

    /// A list of integers; nil when absent.
    mutating func ints(_ key: String, range: ClosedRange<Int> = 0...Int.max) throws -> [Int]? {
        guard let n = value(key) else { return nil }
        guard let seq = n.sequence else { throw fail(key, "expected a list of integers", at: n) }
        return try seq.map { item in
            guard let v = item.int, range.contains(v) else { throw fail(key, "expected integers in \(range.lowerBound)…\(range.upperBound)", at: item) }
            return v
        }
    }

    /// Whether `key` holds a scalar (as opposed to a list or mapping).
    func isScalar(_ key: String) -> Bool { mapping[key]?.scalar != nil }

    /// The line of `key`'s value, for errors found after reading.
    func line(_ key: String) -> Int? { (mapping[key] ?? node).mark?.line }

    mutating func section(_ key: String) throws -> ConfigReader? {
        guard let n = value(key) else { return nil }
        return try ConfigReader(file: file, path: path.isEmpty ? key : path + "." + key, node: n)
    }

    mutating func sections(_ key: String) throws -> [ConfigReader]? {
        guard let n = value(key) else { return nil }
        guard let seq = n.sequence else { throw fail(key, "expected a list", at: n) }
        return try seq.enumerated().map { i, item in
            try ConfigReader(file: file, path: (path.isEmpty ? key : path + "." + key) + "[\(i)]", node: item)
        }
    }

    /// Errors on the first key that was never read, suggesting the closest known key.
    func finish() throws {
        for (k, v) in mapping {
            guard let name = k.scalar?.string else { throw fail("?", "keys must be text", at: k) }
            if known.contains(name) { continue }
            let closest = known.map { ($0, editDistance($0, name)) }.min { $0.1 < $1.1 }
            let hint = closest.flatMap { $0.1 <= max(2, name.count / 3) ? " (did you mean '\($0.0)'?)" : nil } ?? ""
            throw ConfigError(file: file, line: k.mark?.line ?? v.mark?.line, key: path.isEmpty ? name : path + "." + name,
                              message: "unknown key\(hint); known keys here: \(known.joined(separator: ", "))")
        }
    }
}
