import Foundation
import Kernels
import XCTest
@testable import Probing

/// The lens's token attribution and softmax mass against a direct Double recomputation.
final class LogitLensReadingTests: XCTestCase {
    func testAttributionFollowsShareAndOccurrenceRules() {
        // Token 0: 9 of 10 in language 0 (exactly 90%): language 0. Token 1: 8 of 10: unattributed.
        // Token 2: 2 occurrences, all in language 1: too rare. Token 3: 3 in language 1: language 1.
        // Token 4: never seen. Token 9 outside a vocabulary of 6 is ignored.
        let occurrences = [Array(repeating: 0, count: 9) + Array(repeating: 1, count: 8) + [9],
                           [0] + [1, 1] + [2, 2] + [3, 3, 3]]
        let a = TokenAttribution(vocabSize: 6, occurrences: occurrences, share: 0.9, minOccurrences: 3)
        XCTAssertEqual(a.language, [0, -1, -1, 1, -1, -1])
        XCTAssertEqual(a.members(languages: 2), [[0], [3]])
        XCTAssertEqual(TokenAttribution(vocabSize: 6, occurrences: occurrences, share: 0.8, minOccurrences: 2).language, [0, 0, 1, 1, -1, -1])
    }

    func testMassAndTopAgreeWithADoubleSoftmax() {
        var rng = SystemRandomNumberGenerator()
        let vocab = 1037, rows = 5
        let logits = (0..<(rows * vocab)).map { _ in Float.random(in: -8...8, using: &rng) }
        let members = [[0, 5, 17, 1000], Array(100..<300), [1036]]
        var buffer = logits
        let reading = buffer.withUnsafeMutableBufferPointer { LensReading(logits: $0.baseAddress!, rows: rows, vocab: vocab, members: members) }
        for r in 0..<rows {
            let row = logits[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
            var attributed = 0.0
            for (j, ids) in members.enumerated() {
                let want = ids.reduce(0.0) { $0 + e[$1] } / total
                attributed += want
                XCTAssertEqual(reading.mass[r * 4 + j], want, accuracy: 1e-6)
            }
            XCTAssertEqual(reading.mass[r * 4 + 3], 1 - attributed, accuracy: 1e-6)
            XCTAssertEqual(reading.top[r], row.firstIndex(of: m)!)
        }
    }

    /// The reading at the active level (C's exp pass with AVX-512) is the same bits as with
    /// Swift's vector loop.
    func testReadingIsTheSameWithEitherExpPass() {
        var rng = SplitMix64(seed: 5)
        let vocab = 4_099
        let rows = (0..<(3 * vocab)).map { _ in Float(rng.nextUniform() * 16 - 8) }
        var a = rows, b = rows
        let members = [[0, 5, 17, 1000], Array(100..<300)]
        let active = a.withUnsafeMutableBufferPointer { LensReading(logits: $0.baseAddress!, rows: 3, vocab: vocab, members: members) }
        let plain = b.withUnsafeMutableBufferPointer { LensReading(logits: $0.baseAddress!, rows: 3, vocab: vocab, members: members, level: .avx2) }
        XCTAssertEqual(active.mass.map(\.bitPattern), plain.mass.map(\.bitPattern))
        XCTAssertEqual(active.top, plain.top)
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    }
}
