import CKernelSupport
import XCTest
@testable import Kernels

/// xlsweep's fp32 product kernels (f32_gemm.c): every element equals, bit for bit, one fused
/// multiply-add chain over k = 0 … K − 1 from 0, then alpha, beta · C and bias, each rounded once
/// (written out here in scalar Swift, `addingProduct` being IEEE fusedMultiplyAdd), at every
/// instruction-set level this CPU runs, for every operand layout, whatever the rows around it or
/// the columns a thread was given; and that chain is within fp32 accumulation error of fp64.
final class FP32GemmTests: XCTestCase {
    func random(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(Int64(bitPattern: rng.next()) >> 11) * 0x1p-52 * scale }
    }

    struct Product {
        var m, n, k: Int
        var aTransposed = false, bKContiguous = true
        var alpha: Float = 1, beta: Float = 0, bias = false

        func a(_ i: Int, _ p: Int, _ a: [Float]) -> Float { aTransposed ? a[p * m + i] : a[i * k + p] }
        func b(_ p: Int, _ j: Int, _ b: [Float]) -> Float { bKContiguous ? b[j * k + p] : b[p * n + j] }
    }

    func run(_ level: KernelPath, _ s: Product, _ a: [Float], _ b: [Float], _ c0: [Float], _ bias: [Float]) -> [Float] {
        var c = c0
        bias.withUnsafeBufferPointer { bp in
            xl_gemm_f32(level.rawValue, Int32(s.m), Int32(s.n), Int32(s.k), s.alpha, a, s.aTransposed ? s.m : s.k,
                        s.aTransposed ? 1 : 0, b, s.bKContiguous ? s.k : s.n, s.bKContiguous ? 1 : 0, s.beta,
                        s.bias ? bp.baseAddress : nil, &c, s.n)
        }
        return c
    }

    /// The definition, element by element.
    func chain(_ s: Product, _ a: [Float], _ b: [Float], _ c0: [Float], _ bias: [Float]) -> [Float] {
        var c = c0
        for i in 0..<s.m {
            for j in 0..<s.n {
                var acc: Float = 0
                for p in 0..<s.k { acc = acc.addingProduct(s.a(i, p, a), s.b(p, j, b)) }
                var v = s.alpha == 1 ? acc : s.alpha * acc
                if s.beta != 0 { v = v + s.beta * c0[i * s.n + j] }
                if s.bias { v = v + bias[j] }
                c[i * s.n + j] = v
            }
        }
        return c
    }

    /// Shapes not multiples of any tile; K = 1030, 1500 and 530 span several 512-deep k blocks. Rows
    /// past the last six-row tile (5, 3, 1, 4, 2 of them) go through AVX-512's edge kernel, and a
    /// last panel 1 … 48 columns wide through its narrow one (1, 2 and 3 vectors of 16).
    static let shapes = [(1, 1, 1), (5, 70, 77), (33, 130, 1030), (7, 65, 8), (13, 200, 1500), (6, 64, 512),
                         (100, 128, 130), (26, 64, 600), (9, 100, 40), (14, 90, 530), (6, 48, 64), (11, 17, 33)]

    var levels: [KernelPath] { [.generic, .avx2, .avx512].filter { $0 <= KernelPath.detected } }

    func testEveryLevelAndLayoutIsTheDefinedChain() {
        for (m, n, k) in Self.shapes {
            var products = [Product(m: m, n: n, k: k), Product(m: m, n: n, k: k, bKContiguous: false, bias: true),
                            Product(m: m, n: n, k: k, aTransposed: true, alpha: 0.125, beta: 1),
                            Product(m: m, n: n, k: k, aTransposed: true, bKContiguous: false, alpha: -3, beta: 0.5, bias: true)]
            if m * n * k > 1_000_000 { products = [products[0], products[3]] }   // the generic level's fmaf is slow
            let a = random(m * k, seed: UInt64(m), scale: 2), b = random(n * k, seed: UInt64(n) + 7, scale: 0.1)
            let c0 = random(m * n, seed: 3, scale: 5), bias = random(n, seed: 4, scale: 1)
            for s in products {
                let expected = chain(s, a, b, c0, bias)
                for level in levels {
                    XCTAssertEqual(run(level, s, a, b, c0, bias).map(\.bitPattern), expected.map(\.bitPattern),
                                   "\(level) at \(m)×\(n)×\(k) \(s)")
                }
                assertWithinFP32Error(expected, s, a, b, c0, bias)
            }
        }
    }

    func assertWithinFP32Error(_ c: [Float], _ s: Product, _ a: [Float], _ b: [Float], _ c0: [Float], _ bias: [Float]) {
        for i in 0..<s.m {
            for j in 0..<s.n {
                var exact = 0.0, magnitude = 0.0
                for p in 0..<s.k {
                    let t = Double(s.a(i, p, a)) * Double(s.b(p, j, b))
                    exact += t
                    magnitude += abs(t)
                }
                exact = Double(s.alpha) * exact + Double(s.beta) * Double(c0[i * s.n + j]) + (s.bias ? Double(bias[j]) : 0)
                let bound = Double(s.k + 8) * 0x1p-24 * (abs(Double(s.alpha)) * magnitude + abs(Double(s.beta * c0[i * s.n + j])) + 1)
                XCTAssertLessThanOrEqual(abs(Double(c[i * s.n + j]) - exact), bound, "\(s) at (\(i), \(j))")
            }
        }
    }

    /// The one-row product of a decoding step's attention (`Linear.rowProduct`) is the defined
    /// chain too, for both layouts of B, row strides wider than K or N, alpha, beta, and shapes
    /// that are not multiples of its 8 and 16 lanes (and with a NaN among the values).
    func testRowProductIsTheDefinedChain() {
        for (n, k) in [(1, 1), (7, 64), (21, 64), (64, 21), (65, 3), (300, 130), (16, 1030), (100, 5)] {
            for bKContiguous in [true, false] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.125, 1), (-3, 0.5)] {
                    let s = Product(m: 1, n: n, k: k, bKContiguous: bKContiguous, alpha: alpha, beta: beta)
                    var a = random(k, seed: UInt64(n * k), scale: 2)
                    if n == 65 { a[1] = .nan }
                    let stride = (bKContiguous ? k : n) + 5
                    let wide = random((bKContiguous ? n : k) * stride, seed: 9, scale: 0.3)
                    // The same B packed tightly, as `chain` reads it.
                    var b = [Float](repeating: 0, count: n * k)
                    for p in 0..<k { for j in 0..<n { b[bKContiguous ? j * k + p : p * n + j] = bKContiguous ? wide[j * stride + p] : wide[p * stride + j] } }
                    let c0 = random(n, seed: 5, scale: 4)
                    let expected = chain(s, a, b, c0, [])
                    var c = c0
                    Linear.rowProduct(n: n, k: k, alpha: alpha, a: a, b: wide, ldb: stride, transposeB: bKContiguous, beta: beta, c: &c)
                    XCTAssertEqual(c.map(\.bitPattern), expected.map(\.bitPattern), "\(s)")
                    // The C products (keys', values') at every level this CPU has.
                    for level in KernelPath.allCases where level <= KernelPath.fp32 {
                        var cl = c0
                        if bKContiguous { xl_row_product_nt(level.rawValue, Int32(n), Int32(k), alpha, a, wide, stride, beta, &cl) }
                        else { xl_row_product_nn(level.rawValue, Int32(n), Int32(k), alpha, a, wide, stride, beta, &cl) }
                        XCTAssertEqual(cl.map(\.bitPattern), expected.map(\.bitPattern), "\(s) at \(level)")
                    }
                }
            }
        }
    }

    /// nn.Linear through `Linear.forward` (columns split over the threads, products large enough
    /// to be split and tiled): each row gives the same bits alone as in the batch, and the batch
    /// equals the single-threaded product of its columns in two halves.
    func testLinearIsIndependentOfBatchAndThreadSplit() {
        let (m, n, k) = (40, 520, 700)
        let x = random(m * k, seed: 11, scale: 1), w = random(n * k, seed: 12, scale: 0.05), bias = random(n, seed: 13, scale: 0.1)
        var batch = [Float](repeating: .nan, count: m * n)
        Linear.forward(x, rows: m, inFeatures: k, weight: w, bias: bias, outFeatures: n, into: &batch)
        for i in [0, 17, m - 1] {
            var alone = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xp in
                Linear.forward(xp.baseAddress! + i * k, rows: 1, inFeatures: k, weight: w, bias: bias, outFeatures: n, into: &alone)
            }
            XCTAssertEqual(alone.map(\.bitPattern), batch[(i * n)..<((i + 1) * n)].map(\.bitPattern), "row \(i) alone")
        }
        for level in levels where level >= .avx2 {
            var halves = [Float](repeating: .nan, count: m * n)
            let split = 192
            w.withUnsafeBufferPointer { wp in
                bias.withUnsafeBufferPointer { bp in
                    halves.withUnsafeMutableBufferPointer { cp in
                        xl_gemm_f32(level.rawValue, Int32(m), Int32(split), Int32(k), 1, x, k, 0, wp.baseAddress!, k, 1, 0,
                                    bp.baseAddress!, cp.baseAddress!, n)
                        xl_gemm_f32(level.rawValue, Int32(m), Int32(n - split), Int32(k), 1, x, k, 0, wp.baseAddress! + split * k, k, 1, 0,
                                    bp.baseAddress! + split, cp.baseAddress! + split, n)
                    }
                }
            }
            XCTAssertEqual(halves.map(\.bitPattern), batch.map(\.bitPattern), "\(level), columns in two calls")
        }
    }

    /// Non-finite values propagate as IEEE arithmetic says (no lane drops a NaN or an infinity).
    /// A B packed once (attention's keys, `transposeB`, and values) and multiplied by blocks that
    /// use its first k rows and n columns: the bits of `Linear.gemm` on B where it lies — across
    /// several 64-column panels, a depth past one 512-deep block, alpha and beta.
    func testPackedOperandProductsAreTheUnpackedBits() {
        let operand = PackedOperand()
        for (depth, columns, transposeB) in [(64, 200, true), (80, 130, true), (600, 64, false), (300, 128, false), (37, 5, true)] {
            let ldb = (transposeB ? depth : columns) + 3
            let b = random((transposeB ? columns : depth) * ldb, seed: UInt64(depth * columns), scale: 1)
            b.withUnsafeBufferPointer { bp in
                operand.pack(bp.baseAddress!, ldb: ldb, transposeB: transposeB, depth: depth, columns: columns)
                for (m, n, k, alpha, beta) in [(24, columns, depth, Float(0.125), Float(1)), (7, max(1, columns - 9), max(1, depth - 30), 1, 0),
                                               (30, min(columns, 64), depth, 0.5, 0)] {
                    let a = random(m * (k + 1), seed: UInt64(m + n + k), scale: 1)
                    let c0 = random(m * n, seed: 7, scale: 1)
                    var expected = c0, packed = c0
                    Linear.gemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: k + 1, b: bp.baseAddress!, ldb: ldb, transposeB: transposeB,
                                beta: beta, c: &expected, ldc: n)
                    operand.product(m: m, n: n, k: k, alpha: alpha, a: a, lda: k + 1, beta: beta, c: &packed, ldc: n)
                    XCTAssertEqual(packed.map(\.bitPattern), expected.map(\.bitPattern),
                                   "depth \(depth), columns \(columns), transposeB \(transposeB): \(m)×\(n)×\(k)")
                    // A column bias (ALiBi's slope·j): the bits of C holding it in every row, with beta 1.
                    let bias = random(n, seed: UInt64(n), scale: 4)
                    var withBias = [Float](repeating: .nan, count: m * n), biasRows = (0..<m).flatMap { _ in bias }
                    Linear.gemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: k + 1, b: bp.baseAddress!, ldb: ldb, transposeB: transposeB,
                                beta: 1, c: &biasRows, ldc: n)
                    operand.product(m: m, n: n, k: k, alpha: alpha, a: a, lda: k + 1, beta: 0, bias: bias, c: &withBias, ldc: n)
                    XCTAssertEqual(withBias.map(\.bitPattern), biasRows.map(\.bitPattern),
                                   "bias: depth \(depth), columns \(columns), transposeB \(transposeB): \(m)×\(n)×\(k)")
                }
            }
        }
    }

    func testNonFiniteValuesPropagate() {
        let (m, n, k) = (3, 70, 9)
        var a = random(m * k, seed: 1, scale: 1)
        a[1 * k + 4] = .nan
        a[2 * k + 2] = .infinity
        let b = random(n * k, seed: 2, scale: 1)
        let s = Product(m: m, n: n, k: k)
        let expected = chain(s, a, b, [Float](repeating: 0, count: m * n), [])
        for level in levels {
            let c = run(level, s, a, b, [Float](repeating: 0, count: m * n), [])
            XCTAssertEqual(c.map(\.isNaN), expected.map(\.isNaN), "\(level)")
            XCTAssertEqual(c.filter { !$0.isNaN }.map(\.bitPattern), expected.filter { !$0.isNaN }.map(\.bitPattern), "\(level)")
            XCTAssertTrue(c[(1 * n)..<(2 * n)].allSatisfy(\.isNaN))
        }
    }
}
