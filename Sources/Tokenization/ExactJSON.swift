/// Reads one JSON object of `token → id` keeping each key's exact UTF-8 bytes.
///
/// Foundation cannot be used for vocabularies: Swift `String` keys compare by Unicode canonical
/// equivalence, so "é" (U+00E9) and "e" + U+0301 collapse into one dictionary entry (434 of Gemma
/// 3's 262,144 tokens would), and JSONSerialization drops a leading U+FEFF from strings.
enum ExactJSON {
    struct Failure: Error { let offset: Int; let detail: String }

    /// `data` with every U+FEFF after the first byte written as the escape `\ufeff`, so that
    /// JSONSerialization keeps it (it strips a raw U+FEFF at the start of any string). Raw U+FEFF
    /// can only stand inside strings, where the escape means the same.
    static func escapingByteOrderMarks(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count)
        var i = 0
        while i < data.count {
            if i > 0, data[i] == 0xEF, i + 2 < data.count, data[i + 1] == 0xBB, data[i + 2] == 0xBF {
                out += Array("\\ufeff".utf8)
                i += 3
            } else {
                out.append(data[i])
                i += 1
            }
        }
        return out
    }

    /// The integer-valued members of the object at `path` (e.g. ["model", "vocab"]), in file order;
    /// nil if the path does not lead to an object.
    static func integerMembers(of data: [UInt8], at path: [String]) throws -> [(key: [UInt8], value: Int)]? {
        var r = Reader(bytes: data)
        r.skipSpace()
        if r.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { r.i = 3 }   // a byte-order mark before the document
        let target = path.map { Array($0.utf8) }
        for name in target {
            r.skipSpace()
            guard r.peek() == UInt8(ascii: "{") else { return nil }
            r.i += 1
            var first = true, found = false
            while let key = try r.nextKey(&first) {
                if key == name { found = true; break }
                try r.skipValue()
            }
            guard found else { return nil }
        }
        r.skipSpace()
        guard r.peek() == UInt8(ascii: "{") else { return nil }
        r.i += 1
        var out: [(key: [UInt8], value: Int)] = []
        var first = true
        while let key = try r.nextKey(&first) { out.append((key, try r.integer())) }
        return out
    }

    struct Reader {
        let bytes: [UInt8]
        var i = 0

        func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

        func fail(_ detail: String) -> Failure { Failure(offset: i, detail: detail) }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func expect(_ c: Character) throws {
            skipSpace()
            guard peek() == c.asciiValue else { throw fail("expected '\(c)'") }
            i += 1
        }

        /// The next member's key, the reader left at its value; nil after the closing brace.
        /// `first` is true before an object's first member.
        mutating func nextKey(_ first: inout Bool) throws -> [UInt8]? {
            skipSpace()
            if first {
                first = false
                if peek() == UInt8(ascii: "}") { i += 1; return nil }
            } else if peek() == UInt8(ascii: ",") {
                i += 1
            } else {
                try expect("}")
                return nil
            }
            skipSpace()
            let key = try string()
            try expect(":")
            skipSpace()
            return key
        }

        mutating func integer() throws -> Int {
            skipSpace()
            let start = i
            if peek() == UInt8(ascii: "-") { i += 1 }
            while let c = peek(), c >= 0x30 && c <= 0x39 { i += 1 }
            guard i > start, let v = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("expected an integer") }
            return v
        }

        /// A string's exact UTF-8 bytes, escapes resolved (\uXXXX surrogate pairs included).
        mutating func string() throws -> [UInt8] {
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
            i += 1
            var out: [UInt8] = []
            while true {
                guard let c = peek() else { throw fail("unterminated string") }
                i += 1
                if c == UInt8(ascii: "\"") { return out }
                guard c == UInt8(ascii: "\\") else { out.append(c); continue }
                guard let e = peek() else { throw fail("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), peek() == UInt8(ascii: "\\"), i + 1 < bytes.count,
                       bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    out += Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                default: out.append(e)   // \" \\ \/
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return v
        }

        mutating func skipValue() throws {
            skipSpace()
            guard let c = peek() else { throw fail("expected a value") }
            switch c {
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "{"):
                i += 1
                var first = true
                while try nextKey(&first) != nil { try skipValue() }
            case UInt8(ascii: "["):
                i += 1
                skipSpace()
                if peek() == UInt8(ascii: "]") { i += 1; return }
                while true {
                    try skipValue()
                    skipSpace()
                    if peek() == UInt8(ascii: ",") { i += 1; continue }
                    try expect("]")
                    return
                }
            default:   // number, true, false, null
                while let d = peek(), ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(d) {
                    i += 1
                }
            }
        }
    }
}
