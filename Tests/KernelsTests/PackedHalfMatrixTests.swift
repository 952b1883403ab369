import CKernelSupport
import XCTest
@testable import Kernels

/// 16-bit weights packed once at load give the bits of packing on every call (`xl_gemm_bf16_nt`),
/// at every portable level this CPU has, over awkward shapes, from bf16 and from fp16; and the
/// activations the product kernels fuse give the bits of `Activation`'s vector code.
final class PackedHalfMatrixTests: XCTestCase {
    func values(_ count: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float((rng.nextUniform() * 2 - 1) * scale) }
    }

    func bf16(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        xl_round_to_bf16(KernelPath.detected.rawValue, x, &out, x.count)
        return out
    }

    /// A matrix over storage of its own holding `w`.
    func matrix(_ w: [UInt16], rows: Int, cols: Int, fp16: Bool = false) -> HalfMatrix {
        let storage = HalfStorage(count: w.count)
        storage.pointer.update(from: w, count: w.count)
        return HalfMatrix(borrowing: storage.pointer, rows: rows, cols: cols, format: fp16 ? .fp16 : .bf16, owner: storage)
    }

    static let levels = KernelPath.allCases.filter { $0 <= KernelPath.detected && $0.isPortable }

    /// Shapes with odd K (a half pair), N not a multiple of 64, M not a multiple of the 6-row tile,
    /// and K = 4096 (the MLP's down product).
    func testPackedProductsAreTheBitsOfPackingPerCall() {
        for (m, n, k) in [(1, 1, 1), (5, 63, 7), (6, 64, 64), (7, 65, 513), (13, 130, 1030), (12, 192, 4096), (25, 70, 77)] {
            let a = bf16(values(m * k, seed: UInt64(k), scale: 2)), bias = values(n, seed: 9)
            for fp16 in [false, true] {
                let wide = values(n * k, seed: UInt64(n), scale: 0.3)
                let w = fp16 ? wide.map { Float16($0).bitPattern } : bf16(wide)
                let matrix = matrix(w, rows: n, cols: k, fp16: fp16)
                let packed = PackedHalfMatrix(packing: matrix)
                for (r, c) in [(0, 0), (n - 1, k - 1), (n / 2, k / 2)] {
                    let stored = fp16 ? bf16([Float(Float16(bitPattern: w[r * k + c]))])[0] : w[r * k + c]
                    XCTAssertEqual(packed[r, c].bitPattern, UInt32(stored) << 16, "(\(r), \(c)) of \(n)×\(k), fp16 \(fp16)")
                }
                for level in Self.levels {
                    for withBias in [false, true] {
                        var plain = [Float](repeating: .nan, count: m * n), fast = plain
                        bias.withUnsafeBufferPointer { b in
                            xl_gemm_bf16_nt(level.rawValue, Int32(m), Int32(n), Int32(k), a, k, w, k, fp16 ? 1 : 0,
                                            withBias ? b.baseAddress : nil, &plain, n)
                            xl_gemm_bf16_packed(level.rawValue, Int32(m), Int32(n), Int32(k), a, k, packed.pointer,
                                                withBias ? b.baseAddress : nil, &fast, n, 0)
                        }
                        XCTAssertEqual(plain.map(\.bitPattern), fast.map(\.bitPattern),
                                       "\(m)×\(n)×\(k) at \(level), fp16 \(fp16), bias \(withBias)")
                    }
                }
                let x = values(m * k, seed: 3, scale: 2)
                var viaPacked = [Float](repeating: .nan, count: m * n), viaPlain = viaPacked
                Linear.forward(x, rows: m, inFeatures: k, packed: packed, bias: bias, outFeatures: n, into: &viaPacked)
                Linear.forward(x, rows: m, inFeatures: k, weight: matrix, bias: bias, outFeatures: n, into: &viaPlain)
                if KernelPath.active.isPortable {
                    XCTAssertEqual(viaPacked.map(\.bitPattern), viaPlain.map(\.bitPattern), "Linear \(m)×\(n)×\(k), fp16 \(fp16)")
                }
            }
        }
    }

    /// A column range from a 64-column boundary on (how the threads split a product) reads its own panels.
    func testColumnRangesAndStackingReadTheRightPanels() {
        let (m, n1, n2, k) = (9, 128, 192, 31)
        let a = bf16(values(m * k, seed: 1)), w1 = bf16(values(n1 * k, seed: 2)), w2 = bf16(values(n2 * k, seed: 3))
        func packed(_ w: [UInt16], _ rows: Int) -> PackedHalfMatrix {
            PackedHalfMatrix(packing: matrix(w, rows: rows, cols: k))
        }
        let whole = packed(w1 + w2, n1 + n2), stacked = PackedHalfMatrix(concatenating: [packed(w1, n1), packed(w2, n2)])
        let words = Int(xl_packed_bf16_count(Int32(n1 + n2), Int32(k)))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: stacked.pointer, count: words)), Array(UnsafeBufferPointer(start: whole.pointer, count: words)))
        let level = Self.levels.last!.rawValue, n = n1 + n2
        var all = [Float](repeating: .nan, count: m * n), tail = [Float](repeating: .nan, count: m * (n - 64))
        xl_gemm_bf16_packed(level, Int32(m), Int32(n), Int32(k), a, k, whole.pointer, nil, &all, n, 0)
        xl_gemm_bf16_packed(level, Int32(m), Int32(n - 64), Int32(k), a, k, whole.pointer + 64 * ((k + 1) / 2), nil, &tail, n - 64, 0)
        for i in 0..<m {
            XCTAssertEqual(tail[(i * (n - 64))..<((i + 1) * (n - 64))].map(\.bitPattern), all[(i * n + 64)..<((i + 1) * n)].map(\.bitPattern), "row \(i)")
        }
    }

    /// The fused activations, lane by lane, are `Activation`'s vector code: random values over the
    /// range where tanh bends, the clamps' edges, zeros, subnormals, infinities and NaN, in rows of
    /// every length (the kernels' 16-lane loop and their scalar tail).
    func testFusedActivationsAreTheBitsOfActivation() {
        var special: [Float] = [0, -0.0, 1e-40, -1e-40, 1e-6, -1e-6, 9, -9, 9.0001, -9.0001, 11.5, -11.5, 30, -30, 87.3, 88.7, 1e30, -1e30,
                                .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        special += values(16 * 64 - special.count, seed: 7, scale: 12)
        for kind in [FusedActivation.bloomGELU, .geluTanh] {
            var expected = special
            expected.withUnsafeMutableBufferPointer { kind.apply($0.baseAddress!, count: $0.count) }
            for level in KernelPath.allCases where level <= KernelPath.detected {
                for width in [16, 64, 13] {   // 13: every value through the scalar tail of some row
                    let rows = special.count / width
                    var fused = special
                    xl_activation_rows(level.rawValue, Int32(kind.rawValue), &fused, width, Int32(rows), Int32(width))
                    for i in 0..<(rows * width) where fused[i].bitPattern != expected[i].bitPattern {
                        XCTFail("\(kind) at \(level), width \(width): \(special[i]) → \(fused[i]), Activation gives \(expected[i])")
                        break
                    }
                }
            }
        }
    }

    /// A product with the activation fused (fp32 pre-packed and bf16 pre-packed) is the product,
    /// then `Activation` over its output; a width that is not whole 16-float groups is activated
    /// after the product; K past the fp32 kernel's 512-deep blocks is activated once, at the last.
    func testProductsWithAFusedActivationAreTheProductThenTheActivation() {
        for (m, n, k) in [(7, 128, 33), (13, 80, 64), (5, 70, 19), (8, 192, 1030)] {
            let x = values(m * k, seed: 4, scale: 3), w = values(n * k, seed: 5, scale: 0.5), bias = values(n, seed: 6)
            let fp32 = w.withUnsafeBufferPointer { PackedMatrix(packing: $0.baseAddress!, rows: n, cols: k) }
            let half = w.withUnsafeBufferPointer { HalfMatrix(rounding: $0.baseAddress!, rows: n, cols: k) }
            let packedHalf = PackedHalfMatrix(packing: half)
            for kind in [FusedActivation.bloomGELU, .geluTanh] {
                var expected = [Float](repeating: .nan, count: m * n), fused = expected
                Linear.forward(x, rows: m, inFeatures: k, packed: fp32, bias: bias, outFeatures: n, into: &expected)
                expected.withUnsafeMutableBufferPointer { kind.apply($0.baseAddress!, count: $0.count) }
                Linear.forward(x, rows: m, inFeatures: k, packed: fp32, bias: bias, outFeatures: n, into: &fused, activation: kind)
                XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern), "fp32 \(kind) \(m)×\(n)×\(k)")
                Linear.forward(x, rows: m, inFeatures: k, packed: packedHalf, bias: bias, outFeatures: n, into: &expected)
                expected.withUnsafeMutableBufferPointer { kind.apply($0.baseAddress!, count: $0.count) }
                Linear.forward(x, rows: m, inFeatures: k, packed: packedHalf, bias: bias, outFeatures: n, into: &fused, activation: kind)
                XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern), "bf16 \(kind) \(m)×\(n)×\(k)")
            }
        }
    }
}
