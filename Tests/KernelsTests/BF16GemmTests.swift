import CKernelSupport
import XCTest
@testable import Kernels

/// The bf16 product kernels: every portable instruction-set level gives the same bits, AMX gives
/// the same bits whatever the batch or column split, and all equal an fp64 reference over the
/// bf16-rounded operands within fp32 accumulation error.
final class BF16GemmTests: XCTestCase {
    func random(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(Int64(bitPattern: rng.next()) >> 11) * 0x1p-52 * scale }
    }

    func rounded(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        xl_round_to_bf16(KernelPath.detected.rawValue, x, &out, x.count)
        return out
    }

    func product(_ level: KernelPath, _ a: [UInt16], _ b: [UInt16], m: Int, n: Int, k: Int, fp16: Bool = false) -> [Float] {
        var c = [Float](repeating: .nan, count: m * n)
        xl_gemm_bf16_nt(level.rawValue, Int32(m), Int32(n), Int32(k), a, k, b, k, fp16 ? 1 : 0, nil, &c, n)
        return c
    }

    /// The last one spans two AMX panel chunks (1 MiB each at K = 4096).
    static let shapes = [(1, 1, 1), (5, 70, 77), (33, 130, 1030), (4, 4, 64), (40, 96, 64), (3, 200, 4096)]

    /// Shapes with k not a multiple of 32 and m, n not multiples of any tile.
    func testEveryPortableLevelGivesTheSameBitsAndMatchesFP64() {
        for (m, n, k) in Self.shapes {
            let a = rounded(random(m * k, seed: UInt64(m), scale: 2)), b = rounded(random(n * k, seed: UInt64(n), scale: 0.1))
            let levels = KernelPath.allCases.filter { $0 <= KernelPath.detected && $0.isPortable }
            let results = levels.map { product($0, a, b, m: m, n: n, k: k) }
            for (level, c) in zip(levels, results) {
                XCTAssertEqual(c.map(\.bitPattern), results[0].map(\.bitPattern), "\(level) vs \(levels[0]) at \(m)×\(n)×\(k)")
            }
            assertWithinFP32Error(results[0], a, b, m: m, n: n, k: k, "\(levels[0])")
        }
    }

    /// AMX (where the CPU has it): within fp32 accumulation error of fp64, and each element the
    /// same bits whether its row is computed alone or in a batch, and whatever the column split.
    func testAMXIsExactEnoughAndIndependentOfBatchAndSplit() throws {
        guard KernelPath.detected >= .amx else { throw XCTSkip("no AMX on this CPU (detected \(KernelPath.detected))") }
        for (m, n, k) in Self.shapes {
            let a = rounded(random(m * k, seed: UInt64(m), scale: 2)), b = rounded(random(n * k, seed: UInt64(n), scale: 0.1))
            let c = product(.amx, a, b, m: m, n: n, k: k)
            assertWithinFP32Error(c, a, b, m: m, n: n, k: k, "amx")
            for i in [0, m - 1] {
                let alone = product(.amx, Array(a[(i * k)..<((i + 1) * k)]), b, m: 1, n: n, k: k)
                XCTAssertEqual(alone.map(\.bitPattern), c[(i * n)..<((i + 1) * n)].map(\.bitPattern), "row \(i) alone at \(m)×\(n)×\(k)")
            }
            if n > 64 {   // the columns from 64 on, as a second thread computes them
                let tail = product(.amx, a, Array(b[(64 * k)...]), m: m, n: n - 64, k: k)
                for i in 0..<m {
                    XCTAssertEqual(tail[(i * (n - 64))..<((i + 1) * (n - 64))].map(\.bitPattern),
                                   c[(i * n + 64)..<((i + 1) * n)].map(\.bitPattern), "split at \(m)×\(n)×\(k)")
                }
            }
        }
    }

    func assertWithinFP32Error(_ c: [Float], _ a: [UInt16], _ b: [UInt16], m: Int, n: Int, k: Int, _ label: String) {
        let wa = a.map { Double(Float(bitPattern: UInt32($0) << 16)) }, wb = b.map { Double(Float(bitPattern: UInt32($0) << 16)) }
        for i in 0..<m {
            for j in 0..<n {
                var exact = 0.0, magnitude = 0.0
                for p in 0..<k { exact += wa[i * k + p] * wb[j * k + p]; magnitude += abs(wa[i * k + p] * wb[j * k + p]) }
                // Each fp32 addition errs by ≤ 2⁻²⁴ of a partial sum bounded by `magnitude`.
                let bound = Double(k + 16) * 0x1p-24 * magnitude + 1e-30
                XCTAssertLessThanOrEqual(abs(Double(c[i * n + j]) - exact), bound, "\(label) \(m)×\(n)×\(k) at (\(i), \(j))")
            }
        }
    }

    /// fp16 weights are rounded to bf16 inside the kernel: the same bits as rounding them first,
    /// at every level (AMX against its own product of the rounded weights) (including fp16 subnormals, infinities and values that round up).
    func testFP16WeightsEqualTheirBF16Rounding() {
        let (m, n, k) = (9, 70, 77)
        let a = rounded(random(m * k, seed: 5, scale: 2))
        var b16 = random(n * k, seed: 6, scale: 0.3).map { Float16($0).bitPattern }
        b16[0] = 0x0001; b16[1] = 0x83FF; b16[2] = Float16(1.0 + 3.0 / 1024).bitPattern; b16[3] = Float16(-65504).bitPattern
        let widened = b16.map { Float(Float16(bitPattern: $0)) }
        let expected = product(KernelPath.generic, a, rounded(widened), m: m, n: n, k: k)
        for level in KernelPath.allCases where level <= KernelPath.detected {
            let c = product(level, a, b16, m: m, n: n, k: k, fp16: true)
            let reference = level.isPortable ? expected : product(level, a, rounded(widened), m: m, n: n, k: k)
            XCTAssertEqual(c.map(\.bitPattern), reference.map(\.bitPattern), "\(level)")
        }
    }

    func testRoundingToNearestEven() {
        let cases: [(Float, UInt16)] = [
            (1.0, 0x3f80), (-2.0, 0xc000),
            (Float(bitPattern: 0x3f80_8000), 0x3f80),   // tie, even below
            (Float(bitPattern: 0x3f81_8000), 0x3f82),   // tie, even above
            (Float(bitPattern: 0x3f80_8001), 0x3f81),   // above the tie
            (.infinity, 0x7f80), (Float(bitPattern: 0x7f7f_ffff), 0x7f80),  // largest float rounds to ∞
        ]
        for level in KernelPath.allCases where level <= KernelPath.detected {
            // 17 copies so the AVX-512 loop and its scalar tail both see every case.
            let x = Array(repeating: cases.map(\.0), count: 17).flatMap { $0 }
            var y = [UInt16](repeating: 0, count: x.count)
            xl_round_to_bf16(level.rawValue, x, &y, x.count)
            for (i, v) in y.enumerated() { XCTAssertEqual(v, cases[i % cases.count].1, "\(level): \(x[i])") }
            var nan = [UInt16](repeating: 0, count: 1)
            xl_round_to_bf16(level.rawValue, [Float.nan], &nan, 1)
            XCTAssertTrue(Float(bitPattern: UInt32(nan[0]) << 16).isNaN, "\(level): NaN stays NaN")
        }
    }

    /// `Linear.forward` with bf16 weights: bias added, same bits as the kernel alone.
    func testLinearAddsBias() {
        let m = 3, k = 40, n = 9
        let x = random(m * k, seed: 1, scale: 1), w = random(n * k, seed: 2, scale: 0.5), bias = random(n, seed: 3, scale: 1)
        let matrix = w.withUnsafeBufferPointer { HalfMatrix(rounding: $0.baseAddress!, rows: n, cols: k) }
        var y = [Float](repeating: 0, count: m * n)
        Linear.forward(x, rows: m, inFeatures: k, weight: matrix, bias: bias, outFeatures: n, into: &y)
        let plain = product(KernelPath.active, rounded(x), rounded(w), m: m, n: n, k: k)
        for i in 0..<(m * n) { XCTAssertEqual(y[i], plain[i] + bias[i % n]) }
    }
}
