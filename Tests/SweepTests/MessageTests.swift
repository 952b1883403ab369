import Foundation
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// The wire's JSON bodies are read by a small strict parser (FlatJSON); Foundation's general
/// parser is the independent reference: on valid bodies and on tens of thousands of mutated ones
/// (bytes flipped, dropped, inserted; truncations; hostile escapes) everything it accepts Foundation
/// accepts with the same values, and what Foundation alone accepts is its known laxness (a
/// trailing comma, invalid Unicode), which the wire refuses.
final class MessageTests: XCTestCase {
    /// Foundation's verdict: the object of strings, or nil when it is not one.
    func reference(_ bytes: [UInt8]) -> [String: String]? {
        guard let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        var out: [String: String] = [:]
        for (k, v) in object {
            guard let s = v as? String else { return nil }
            out[k] = s
        }
        return out
    }

    func ours(_ bytes: [UInt8]) -> [String: String]? { try? FlatJSON.decode(bytes[...]) }

    /// `bytes` with each comma that only whitespace separates from a closing brace dropped.
    func withoutTrailingCommas(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: ","), bytes[(i + 1)...].first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "}") { continue }
            out.append(b)
        }
        return out
    }

    func testRoundTripsAndAgreesWithFoundationOnValidBodies() throws {
        let bodies: [[String: String]] = [
            [:], ["task": "extract/step1/en"], ["error": "line 1\nline 2\t\"quoted\" \\ back/slash \u{01}\u{1F}"],
            ["ключ": "значение", "emoji": "🧪 ok", "nul": "a\u{0}b", "cr": "\r\n"],
            Dictionary(uniqueKeysWithValues: (0..<64).map { ("k\($0)", String(repeating: "v", count: $0)) }),
        ]
        for body in bodies {
            let bytes = FlatJSON.encode(body)
            XCTAssertEqual(ours(bytes), body)
            XCTAssertEqual(reference(bytes), body, String(decoding: bytes, as: UTF8.self))
            let m = Message(.failed, body)
            XCTAssertEqual(try Message.decode(m.encode()), m)
        }
        // Foundation's own spelling (escaped slashes, \u escapes, surrogate pairs, spaces) reads the same.
        let foreign = #" { "a" : "x\/y\u00e9\ud83e\uddea" , "b":"" } "#
        XCTAssertEqual(ours(Array(foreign.utf8)), ["a": "x/yé🧪", "b": ""])
        XCTAssertEqual(reference(Array(foreign.utf8)), ours(Array(foreign.utf8)))
    }

    func testHostileBodiesAreRefused() {
        for text in [#"["a"]"#, #""a""#, "1", "null", #"{"a":1}"#, #"{"a" "x"}"#, #"{"a":"x"} x"#, #"{"a":"x""#,
                     #"{"a":"\q"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, #"{"a":"\u12"}"#, "{\"a\":\"\u{7}\"}", #"{"a":null}"#,
                     #"{"a":{"b":"c"}}"#, #"{'a':'x'}"#, "", "{", "{\"a\":\"x\"}\u{0}"] {
            XCTAssertNil(ours(Array(text.utf8)), text)
            XCTAssertNil(reference(Array(text.utf8)), "Foundation accepts \(text)")
        }
        XCTAssertNil(ours(Array(#"{"a":"x",}"#.utf8)), "a trailing comma (Foundation lets it through)")
        XCTAssertNil(ours([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x22, 0x22, 0x7D]), "invalid UTF-8 in a key")
        XCTAssertThrowsError(try FlatJSON.decode(Array(#"{"task":["x"]}"#.utf8)[...])) {
            XCTAssertEqual($0 as? FlatJSON.Failure, .notAString(field: "task"))
        }
    }

    func testMutatedBodiesGetTheSameVerdictAsFoundation() {
        var rng = SystemRandomNumberGenerator()
        let seeds: [[UInt8]] = [
            FlatJSON.encode(["task": "generate/step1/joy/es", "error": "a \"b\" \\ c\nd", "code": "input"]),
            Array(#"{"a":"\u00e9\ud83e\uddea\/","b":"c"}"#.utf8),
        ]
        let alphabet = Array(#"{}[]:,"\/ubfnrt0123456789aAdDeEfF "#.utf8) + [0x00, 0x0A, 0x7F, 0xC3, 0xA9, 0xFF, 0xED, 0xA0, 0x80]
        var compared = 0
        for _ in 0..<40_000 {
            var b = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = alphabet.randomElement(using: &rng)!
                case 1 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
                case 2: b.insert(alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...b.count, using: &rng))
                default: b = Array(b.prefix(Int.random(in: 0...b.count, using: &rng)))
                }
            }
            let r = reference(b)
            // Foundation lets some invalid Unicode through (lone surrogates it replaces, overlong
            // forms); the wire refuses those, so only bodies it reads as valid Unicode are compared.
            if r == nil, let mine = ours(b) {
                XCTFail("FlatJSON accepts what Foundation refuses: \(b) → \(mine)")
                return
            }
            if let r, ours(b) != r, String(bytes: b, encoding: .utf8) != nil, !String(decoding: b, as: UTF8.self).contains("\\u"),
               ours(withoutTrailingCommas(b)) != r {
                XCTFail("verdicts differ on \(String(decoding: b, as: UTF8.self).debugDescription): Foundation \(r), ours \(String(describing: ours(b)))")
                return
            }
            compared += 1
        }
        XCTAssertEqual(compared, 40_000)
    }
}
