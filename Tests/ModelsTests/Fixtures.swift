import Checkpoints
import Foundation
import TestSupport
import XCTest
@testable import Models

/// The committed transformers references (tools/make_fixtures.py) and comparison helpers that
/// report max-abs error, the worst index and values from both sides.
enum Fixtures {
    static let root = TestSupport.fixtures

    static func path(_ name: String) -> String { root + "/" + name }

    struct Sequence: Decodable {
        let greedy: [Int]
        let greedy_forced: [Int]
    }

    struct Force: Decodable {
        let layer: Int
        let units: [Int]
        let value: Float
    }

    struct Reference: Decodable {
        let prompts: [String]
        let ids: [[Int]]
        let sequences: [Sequence]
        let batch_lengths: [Int]
        let force: Force
        let greedy_new_tokens: Int
    }

    static func reference(_ model: String) throws -> (Reference, [String: TensorRecord]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(model) + "/reference.json"))
        let meta = try JSONDecoder().decode(Reference.self, from: data)
        return (meta, try Safetensors.read(path: path(model) + "/reference.safetensors"))
    }
}

/// Fails with max-abs error, worst index and neighbouring values when `actual` differs from `expected`.
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, reference has \(expected.count)", file: file, line: line)
        return
    }
    var worst = 0
    var maxError: Float = 0
    for i in actual.indices {
        let e = abs(actual[i] - expected[i])
        if !(e <= maxError) { maxError = e; worst = i }
    }
    if !(maxError <= tolerance) {
        let lo = max(0, worst - 2), hi = min(actual.count, worst + 3)
        XCTFail("\(what): max-abs error \(maxError) > \(tolerance) at index \(worst); "
            + "swift \(Array(actual[lo..<hi])) vs reference \(Array(expected[lo..<hi]))", file: file, line: line)
    }
}

/// max |a − b| / max |b| (infinite when the shapes differ or are empty).
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    var worst: Float = 0, scale: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])); scale = max(scale, abs(b[i])) }
    return worst / max(scale, .leastNormalMagnitude)
}
