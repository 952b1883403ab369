import XCTest
@testable import Probing

/// The probe's scores and weight gradient, vectorised over rows (scores) or features (gradient),
/// against a plain loop with the order the fit has always used: bit for bit, so a probe's
/// iterations and accuracy do not move when the loops are reshaped.
final class ObjectiveTests: XCTestCase {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<count).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: s >> 11) % 20_000) / 10_000 - 1
        }
    }

    func testScoresAndGradientAreTheRowLoopsBitForBit() {
        // Rows: a whole number of 32-row pairs, an odd block count, a short last block; features:
        // whole vectors, a ragged last vector, more than one 256-wide block; classes: 2 to 16.
        for (n, d, k) in [(32, 16, 2), (37, 300, 4), (5, 7, 3), (70, 513, 5), (19, 40, 13), (48, 33, 16)] {
            let x = values(n * d, seed: UInt64(n * 1000 + d)), w = values(k * d, seed: UInt64(k))
            let b = values(k, seed: 99), y = (0..<n).map { $0 % k }
            let objective = Objective(x: x, y: y, n: n, d: d, k: k, lambda: 0.01)
            let z = objective.blocks!.scores(classes: k, w: w, b: b)
            var expected = [Float](repeating: 0, count: n * k)
            for i in 0..<n {
                for c in 0..<k {
                    var acc = b[c]
                    for j in 0..<d { acc += x[i * d + j] * w[c * d + j] }
                    expected[i * k + c] = acc
                }
            }
            XCTAssertEqual(z.map(\.bitPattern), expected.map(\.bitPattern), "scores n \(n) d \(d) k \(k)")

            let r = values(n * k, seed: UInt64(n + k))
            var gradient = [Float](repeating: 0, count: k * d)
            for c in 0..<k {
                for j in 0..<d {
                    var acc: Float = 0
                    var i = 0
                    while i + 4 <= n {
                        let t = x[i * d + j] * r[i * k + c] + x[(i + 1) * d + j] * r[(i + 1) * k + c]
                            + x[(i + 2) * d + j] * r[(i + 2) * k + c] + x[(i + 3) * d + j] * r[(i + 3) * k + c]
                        acc += t
                        i += 4
                    }
                    while i < n { acc += x[i * d + j] * r[i * k + c]; i += 1 }
                    gradient[c * d + j] = acc
                }
            }
            XCTAssertEqual(objective.weightGradient(r).map(\.bitPattern), gradient.map(\.bitPattern), "gradient n \(n) d \(d) k \(k)")
        }
    }
}
