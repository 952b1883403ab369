import CKernelSupport
import XCTest
@testable import Kernels

/// Weights packed once at load give the same bits as packing on every call, at every kernel level
/// this CPU has, over awkward shapes; row lookups and stacking read the panels right.
final class PackedMatrixTests: XCTestCase {
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) }
    }

    func testPackedProductsAreBitIdenticalToPackingPerCall() {
        let levels = KernelPath.allCases.filter { $0 <= min(KernelPath.detected, .avx512) }
        for (m, n, k) in [(1, 1, 1), (5, 63, 7), (6, 64, 512), (7, 65, 513), (100, 130, 1030), (13, 200, 64)] {
            let x = values(m * k, seed: 1), w = values(n * k, seed: 2), bias = values(n, seed: 3)
            let packed = w.withUnsafeBufferPointer { PackedMatrix(packing: $0.baseAddress!, rows: n, cols: k) }
            for r in [0, n / 2, n - 1] {
                var row = [Float](repeating: 0, count: k)
                packed.row(r, into: &row)
                XCTAssertEqual(row, Array(w[(r * k)..<((r + 1) * k)]), "row \(r) of \(n)×\(k)")
            }
            for level in levels {
                for withBias in [false, true] {
                    var plain = [Float](repeating: 0, count: m * n), fast = plain
                    bias.withUnsafeBufferPointer { b in
                        xl_gemm_f32(level.rawValue, Int32(m), Int32(n), Int32(k), 1, x, k, 0, w, k, 1, 0,
                                    withBias ? b.baseAddress : nil, &plain, n)
                        xl_gemm_f32_packed(level.rawValue, Int32(m), Int32(n), Int32(k), x, k, packed.pointer,
                                           withBias ? b.baseAddress : nil, &fast, n, 0)
                    }
                    XCTAssertEqual(plain.map(\.bitPattern), fast.map(\.bitPattern), "\(m)×\(n)×\(k) at \(level), bias \(withBias)")
                }
            }
            var viaLinear = [Float](repeating: 0, count: m * n), viaPlain = viaLinear
            Linear.forward(x, rows: m, inFeatures: k, packed: packed, bias: bias, outFeatures: n, into: &viaLinear)
            Linear.forward(x, rows: m, inFeatures: k, weight: w, bias: bias, outFeatures: n, into: &viaPlain)
            XCTAssertEqual(viaLinear.map(\.bitPattern), viaPlain.map(\.bitPattern), "Linear \(m)×\(n)×\(k)")
        }
    }

    func testSlicedPackingAndStackingMatchPackingTheWhole() {
        let (n1, n2, k) = (128, 320, 37)
        let a = values(n1 * k, seed: 4), b = values(n2 * k, seed: 5)
        let whole = (a + b).withUnsafeBufferPointer { PackedMatrix(packing: $0.baseAddress!, rows: n1 + n2, cols: k) }
        let stacked = PackedMatrix(concatenating: [a, b].map { m in
            m.withUnsafeBufferPointer { PackedMatrix(packing: $0.baseAddress!, rows: m.count / k, cols: k) }
        })
        let all = a + b
        let sliced = PackedMatrix(rows: n1 + n2, cols: k) { first, count, into in
            for i in 0..<(count * k) { into[i] = all[first * k + i] }
        }
        let count = Int(xl_packed_f32_count(Int32(n1 + n2), Int32(k)))
        for p in [stacked, sliced] {
            XCTAssertEqual(Array(UnsafeBufferPointer(start: p.pointer, count: count)).map(\.bitPattern),
                           Array(UnsafeBufferPointer(start: whole.pointer, count: count)).map(\.bitPattern))
        }
    }

    /// The register-only peak loops run at every level this CPU has and report the work they did.
    func testPeakLoopsRunAtEveryLevelThisCPUHas() {
        XCTAssertEqual(PeakRates.loops.isEmpty, KernelPath.detected < .avx2)
        for loop in PeakRates.loops {
            let perIteration: Double
            switch loop {
            case .fp32AVX2: perIteration = 2 * 8 * 12          // 12 chains of 8 lanes
            case .fp32AVX512: perIteration = 2 * 16 * 12       // 12 chains of 16 lanes
            case .bf16AVX512: perIteration = 2 * 32 * 12       // 12 chains of 16 lanes × 2 pairs
            case .bf16AMX: perIteration = 2 * 4 * 16 * 16 * 32 // 4 tile products of 16 × 16 × 32
            }
            XCTAssertEqual(xl_peak_loop(loop.rawValue, 1000), 1000 * perIteration, "\(loop)")
        }
        for threads in [1, 3] {   // threads of their own, more than this machine may have
            let rates = PeakRates.measure(threads: threads, rounds: 1, seconds: 0.01)
            for loop in PeakRates.loops { XCTAssertGreaterThan(rates.rates[loop] ?? 0, 0, "\(loop) on \(threads) threads") }
            XCTAssertEqual(Set(rates.rates.keys), Set(PeakRates.loops))
        }
        if let loop = PeakRates.loops.first { XCTAssertEqual(xl_peak_rate(loop.rawValue, 1000, 0), 0, "no threads, no rate") }
    }

    /// Two measurements combine loop by loop to the higher rate, a loop only one of them ran included.
    func testPeakOfTwoMeasurementsIsTheHigherOfEachLoop() {
        let before = PeakRates(rates: [.fp32AVX512: 200, .bf16AVX512: 420], threads: 2)
        let after = PeakRates(rates: [.fp32AVX512: 230, .bf16AVX512: 400, .fp32AVX2: 100], threads: 2)
        let peak = before.higher(after)
        XCTAssertEqual(peak.rates, [.fp32AVX512: 230, .bf16AVX512: 420, .fp32AVX2: 100])
        XCTAssertEqual(peak.threads, 2)
        XCTAssertEqual(after.higher(before).rates, peak.rates)
    }
}
