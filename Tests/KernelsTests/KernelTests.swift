import CKernelSupport
import XCTest
@testable import Kernels

/// Each SIMD kernel against its scalar reference over awkward shapes (odd sizes, tails, one row).
final class KernelTests: XCTestCase {
    func random(_ n: Int, seed: UInt64, scale: Float = 3) -> [Float] {
        var state = seed
        return (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    func testBloomGELUMatchesScalar() {
        for n in [1, 15, 16, 17, 33, 1000, 4099] {
            var fast = random(n, seed: UInt64(n))
            fast.append(contentsOf: [0, -0.001, 0.001, 20, -20, 1e-6])
            var slow = fast
            fast.withUnsafeMutableBufferPointer { Activation.bloomGELU($0.baseAddress!, count: $0.count) }
            slow.withUnsafeMutableBufferPointer { Activation.bloomGELUReference($0.baseAddress!, count: $0.count) }
            for i in fast.indices { XCTAssertEqual(fast[i], slow[i], accuracy: 2e-6 * max(1, abs(slow[i])), "n=\(n) i=\(i)") }
        }
    }

    func testGELUTanhMatchesScalar() {
        for n in [1, 15, 16, 17, 1000, 4099] {
            var fast = random(n, seed: UInt64(n) + 100, scale: 8)
            fast.append(contentsOf: [0, -0.001, 0.001, 20, -20, 1e-6, 300])
            var slow = fast
            fast.withUnsafeMutableBufferPointer { Activation.geluTanh($0.baseAddress!, count: $0.count) }
            slow.withUnsafeMutableBufferPointer { Activation.geluTanhReference($0.baseAddress!, count: $0.count) }
            for i in fast.indices { XCTAssertEqual(fast[i], slow[i], accuracy: 2e-6 * max(1, abs(slow[i])), "n=\(n) i=\(i)") }
        }
    }

    func testRMSNormMatchesDoublePrecision() {
        for (rows, dim) in [(1, 16), (3, 17), (4, 256), (2, 640)] {
            let x = random(rows * dim, seed: 11, scale: 30), g = random(dim, seed: 12)
            var y = [Float](repeating: 0, count: rows * dim)
            y.withUnsafeMutableBufferPointer { RMSNorm.forward(x, $0.baseAddress!, rows: rows, dim: dim, gain: g, eps: 1e-6) }
            for r in 0..<rows {
                let row = (0..<dim).map { Double(x[r * dim + $0]) }
                let inverse = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-6).squareRoot()
                for i in 0..<dim {
                    let exact = row[i] * inverse * Double(g[i])
                    XCTAssertEqual(Double(y[r * dim + i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "\(rows)×\(dim) [\(r), \(i)]")
                }
            }
        }
    }

    func testLayerNormMatchesScalar() {
        for (rows, dim) in [(1, 16), (3, 48), (5, 64), (2, 17), (7, 1024)] {
            let x = random(rows * dim, seed: 7), g = random(dim, seed: 8), b = random(dim, seed: 9)
            var fast = [Float](repeating: 0, count: rows * dim), slow = fast
            fast.withUnsafeMutableBufferPointer { LayerNorm.forward(x, $0.baseAddress!, rows: rows, dim: dim, gamma: g, beta: b, eps: 1e-5) }
            for r in 0..<rows {
                slow.withUnsafeMutableBufferPointer { y in
                    x.withUnsafeBufferPointer { xs in
                        LayerNorm.row(xs.baseAddress! + r * dim, y.baseAddress! + r * dim, dim, g, b, 1e-5)
                    }
                }
            }
            for i in fast.indices { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-5, "\(rows)x\(dim) i=\(i)") }
        }
    }

    func testSoftmaxRows() {
        for n in [1, 5, 16, 31, 200] {
            var x = random(n, seed: UInt64(n) + 3, scale: 20)
            let expected: [Double] = {
                let m = x.map(Double.init).max()!
                let e = x.map { exp(Double($0) - m) }
                let s = e.reduce(0, +)
                return e.map { $0 / s }
            }()
            x.withUnsafeMutableBufferPointer { Softmax.row($0.baseAddress!, count: n) }
            for i in 0..<n { XCTAssertEqual(Double(x[i]), expected[i], accuracy: 1e-6) }
        }
    }


    /// The largest value, whichever lane and position it falls in; NaN is never it, −∞ when all are.
    func testLargestValueIsTheScalarMaximumWithoutNaN() {
        for n in [0, 1, 7, 16, 17, 31, 32, 33, 100, 257] {
            for spot in Set([0, n / 3, n / 2, max(0, n - 1)]) where n > 0 {
                var x = random(n, seed: UInt64(n * 31 + spot), scale: 50)
                x[spot] = 1e6 + Float(spot)   // one lane, or the scalar tail, holds the maximum
                if n > 2 { x[(spot + 1) % n] = .nan }
                let expected = x.filter { !$0.isNaN }.max()!
                XCTAssertEqual(largestValue(x, count: n), expected, "n \(n), maximum at \(spot)")
            }
        }
        let none: [Float] = [.nan, -.infinity, .nan] + Array(repeating: -.infinity, count: 30)
        XCTAssertEqual(largestValue(none, count: none.count), -.infinity)
        XCTAssertEqual(largestValue([], count: 0), -.infinity)
        let negative = (0..<40).map { -Float($0) - 0.5 }
        XCTAssertEqual(largestValue(negative, count: 40), -0.5)
    }
    func testLinearMatchesScalar() {
        for (m, k, n) in [(1, 1, 1), (3, 17, 5), (8, 64, 33), (1, 100, 7)] {
            let x = random(m * k, seed: 1), w = random(n * k, seed: 2), b = random(n, seed: 3)
            var fast = [Float](repeating: 0, count: m * n), slow = fast
            fast.withUnsafeMutableBufferPointer {
                Linear.forward(x, rows: m, inFeatures: k, weight: w, bias: b, outFeatures: n, into: $0.baseAddress!)
            }
            slow.withUnsafeMutableBufferPointer {
                Linear.reference(x, rows: m, inFeatures: k, weight: w, bias: b, outFeatures: n, into: $0.baseAddress!)
            }
            for i in fast.indices { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-4 * Float(k).squareRoot()) }
        }
    }

    func testHalfPrecisionConversion() {
        let values: [Float] = [0, 1, -2.5, 65504, 1e-5, -0.333251953125]
        let fp16 = values.map { Float16($0).bitPattern }
        let bf16 = values.map { UInt16($0.bitPattern >> 16) }
        var out = [Float](repeating: 0, count: values.count)
        out.withUnsafeMutableBufferPointer { Precision.convertFP16(fp16, $0.baseAddress!, count: values.count) }
        XCTAssertEqual(out, values.map { Float(Float16($0)) })
        out.withUnsafeMutableBufferPointer { Precision.convertBF16(bf16, $0.baseAddress!, count: values.count) }
        XCTAssertEqual(out, values.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
    }

    /// The logit lens's exp pass (`exponentiateShifted`) is the same bits in Swift's vector loop
    /// and in C (AVX-512, and scalar lanes at the generic level): the exponentials written back and
    /// the eight partial sums, with NaN, ±∞, huge and tiny values among them and a ragged tail.
    func testExpPassIsTheSameInSwiftAndC() {
        var logits = random(4_099, seed: 21, scale: 30)
        for (i, v) in [(3, Float.nan), (40, -.infinity), (41, .infinity), (77, 1e30), (78, -1e30), (90, 1e-30)] { logits[i] = v }
        var swift = logits
        let expected = swift.withUnsafeMutableBufferPointer { exponentiateShifted($0.baseAddress!, count: $0.count, by: 2.5, level: .avx2) }
        for level in [KernelPath.avx512] where level <= KernelPath.fp32 {
            var c = logits
            let acc = c.withUnsafeMutableBufferPointer { exponentiateShifted($0.baseAddress!, count: $0.count, by: 2.5, level: level) }
            XCTAssertEqual(c.map(\.bitPattern), swift.map(\.bitPattern), "exponentials at \(level)")
            XCTAssertEqual((0..<8).map { acc[$0].bitPattern }, (0..<8).map { expected[$0].bitPattern }, "sums at \(level)")
        }
        var scalar = logits, acc = [Double](repeating: 0, count: 8)
        scalar.withUnsafeMutableBufferPointer { xl_exp_shift_sum(KernelPath.generic.rawValue, $0.baseAddress!, $0.count / 16 * 16, 2.5, &acc) }
        XCTAssertEqual(scalar.map(\.bitPattern), swift.map(\.bitPattern), "exponentials, C scalar lanes")
        XCTAssertEqual(acc.map(\.bitPattern), (0..<8).map { expected[$0].bitPattern }, "sums, C scalar lanes")
    }
}
