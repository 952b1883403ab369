/// The JSON of a message body: one object whose values are all strings, written and read here
/// without Foundation (whose general parser cost more than the rest of a message's handling).
/// Strict RFC 8259: anything else — another value type, a trailing comma, a control character in
/// a string, a bad escape or lone surrogate, invalid UTF-8, bytes after the object — is refused.
enum FlatJSON {
    enum Failure: Error, Equatable {
        case notAnObject
        case notAString(field: String)
    }

    /// `{"a":"x","b":"y"}`, keys sorted, `"`, `\` and control characters escaped.
    static func encode(_ object: [String: String]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (n, key) in object.keys.sorted().enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            string(key, into: &out)
            out.append(UInt8(ascii: ":"))
            string(object[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func string(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The object in `bytes`, or why it is not one of strings.
    static func decode(_ bytes: ArraySlice<UInt8>) throws -> [String: String] {
        var p = bytes.startIndex
        let end = bytes.endIndex
        func space() { while p < end, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[p]) { p += 1 } }
        func expect(_ c: UInt8) throws {
            guard p < end, bytes[p] == c else { throw Failure.notAnObject }
            p += 1
        }
        func hex4() throws -> UInt32 {
            guard end - p >= 4 else { throw Failure.notAnObject }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[p]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw Failure.notAnObject
                }
                v = v << 4 | UInt32(d)
                p += 1
            }
            return v
        }
        func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard p < end else { throw Failure.notAnObject }
                let c = bytes[p]
                p += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw Failure.notAnObject }
                guard c == 0x5C else { out.append(c); continue }
                guard p < end else { throw Failure.notAnObject }
                let e = bytes[p]
                p += 1
                switch e {
                case UInt8(ascii: "\""), 0x5C, UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard end - p >= 2, bytes[p] == 0x5C, bytes[p + 1] == UInt8(ascii: "u") else { throw Failure.notAnObject }
                        p += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw Failure.notAnObject }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw Failure.notAnObject
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw Failure.notAnObject }
                    out += Array(String(Character(u)).utf8)
                default: throw Failure.notAnObject
                }
            }
            // Raw bytes must be UTF-8 (escapes were turned into valid UTF-8 above).
            var iterator = out.makeIterator()
            var decoder = UTF8()
            var text = String.UnicodeScalarView()
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let s): text.append(s)
                case .emptyInput: break loop
                case .error: throw Failure.notAnObject
                }
            }
            return String(text)
        }
        space()
        try expect(UInt8(ascii: "{"))
        var object: [String: String] = [:]
        space()
        if p < end, bytes[p] == UInt8(ascii: "}") {
            p += 1
        } else {
            while true {
                space()
                let key = try string()
                space()
                try expect(UInt8(ascii: ":"))
                space()
                guard p < end else { throw Failure.notAnObject }
                guard bytes[p] == UInt8(ascii: "\"") else { throw Failure.notAString(field: key) }
                object[key] = try string()
                space()
                guard p < end else { throw Failure.notAnObject }
                if bytes[p] == UInt8(ascii: ",") { p += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        space()
        guard p == end else { throw Failure.notAnObject }
        return object
    }
}
