/// GPT-2's reversible byte ↔ printable-character table (openai/gpt-2 encoder.py `bytes_to_unicode`):
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards.
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Array(UInt32(33)...126) + Array(UInt32(161)...172) + Array(UInt32(174)...255)
        var table = [UInt32](repeating: 0, count: 256)
        for b in printable { table[Int(b)] = b }
        var next: UInt32 = 256
        for b in 0..<256 where !printable.contains(UInt32(b)) {
            table[b] = next
            printable.append(UInt32(b))
            next += 1
        }
        return table.map { Unicode.Scalar($0)! }
    }()

    static let scalarToByte: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s] = UInt8(b) }
        return map
    }()

    static func encode(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for b in text.utf8 { out.append(byteToScalar[Int(b)]) }
        return String(out)
    }

    /// Inverse of `encode`; characters outside the table are kept as their UTF-8 bytes.
    static func decodeBytes(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for s in text.unicodeScalars {
            if let b = scalarToByte[s] { bytes.append(b) } else { bytes += Array(String(s).utf8) }
        }
        return bytes
    }

    /// GPT-2's pre-tokenization regex, used when ByteLevel has `use_regex: true`.
    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
}
