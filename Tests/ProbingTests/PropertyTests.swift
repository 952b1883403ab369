import Foundation
import Kernels
import XCTest
@testable import Probing

final class ProbingPropertyTests: XCTestCase {
    func randomMatrix(_ rows: Int, _ cols: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<(rows * cols)).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int(s >> 40) % 1000) / 100   // coarse values: many ties
        }
    }

    /// Expected overlap against brute force over every pair of K-subsets with the given layer counts.
    func testChanceOverlapMatchesBruteForce() {
        let sizes = [0: 5, 1: 4]
        // A has 2 experts in layer 0 and 1 in layer 1; B has 1 and 2. K = 3.
        let a = [UnitID(layer: 0, unit: 0), UnitID(layer: 0, unit: 1), UnitID(layer: 1, unit: 0)]
        let b = [UnitID(layer: 0, unit: 4), UnitID(layer: 1, unit: 2), UnitID(layer: 1, unit: 3)]
        func subsets(_ n: Int, _ k: Int) -> [[Int]] {
            k == 0 ? [[]] : n < k ? [] : subsets(n - 1, k) + subsets(n - 1, k - 1).map { $0 + [n - 1] }
        }
        var total = 0.0, perLayer = [0: 0.0, 1: 0.0], count = 0.0
        for a0 in subsets(5, 2) { for a1 in subsets(4, 1) { for b0 in subsets(5, 1) { for b1 in subsets(4, 2) {
            let s0 = Set(a0).intersection(b0).count, s1 = Set(a1).intersection(b1).count
            total += Double(s0 + s1) / 3
            perLayer[0]! += Double(s0) / 3
            perLayer[1]! += Double(s1) / 3
            count += 1
        } } } }
        let chance = Alignment.chanceOverlap(a, b, k: 3, layerSizes: sizes)
        XCTAssertEqual(chance.overall, total / count, accuracy: 1e-12)
        XCTAssertEqual(chance.perLayer[0]!, perLayer[0]! / count, accuracy: 1e-12)
        XCTAssertEqual(chance.perLayer[1]!, perLayer[1]! / count, accuracy: 1e-12)
        let observed = Alignment.overlap(a, [UnitID(layer: 0, unit: 1), UnitID(layer: 1, unit: 0), UnitID(layer: 1, unit: 3)], k: 3)
        XCTAssertEqual(observed.overall, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(observed.perLayer[1]!, 1.0 / 3, accuracy: 1e-12)
    }

    /// Top-K is ordered by AP, then layer, then unit, and does not depend on unit order.
    func testTopKAndOrderIndependence() throws {
        let n = 60, units = 40
        let x = randomMatrix(n, units, seed: 3)
        let positives = [1, 5, 7, 22, 40, 41]
        let pool = try SentencePool(sentences: n, layers: [(layer: 2, activations: x), (layer: 5, activations: x)])
        let e = try pool.expertise(positives: positives)
        let top = e.top(80)
        for (i, j) in zip(top, top.dropFirst()) {
            let a = e.averagePrecision[e.index(of: i)!], b = e.averagePrecision[e.index(of: j)!]
            XCTAssertTrue(a > b || (a == b && i < j), "\(i) before \(j)")
        }
        // Identical layers: every unit of layer 2 precedes its twin in layer 5.
        XCTAssertEqual(top.first?.layer, 2)
        // Reversing the unit order permutes the APs and nothing else.
        var reversed = [Float](repeating: 0, count: x.count)
        for i in 0..<n { for u in 0..<units { reversed[i * units + (units - 1 - u)] = x[i * units + u] } }
        let r = try UnitRanking(activations: reversed, sentences: n, units: units).averagePrecision(positives: positives)
        XCTAssertEqual(Array(r.reversed()), Array(e.averagePrecision[0..<units]))
    }

    func testCrossLanguageAPAndPermutationBaseline() throws {
        let n = 200, units = 30
        var x = randomMatrix(n, units, seed: 9)
        let positives = Array(0..<20)
        for s in positives { for u in 0..<5 { x[s * units + u] += 15 } }   // units 0–4 detect the concept
        let pool = try SentencePool(sentences: n, layers: [(layer: 0, activations: x)])
        let e = try pool.expertise(positives: positives)
        let experts = e.top(5)
        XCTAssertEqual(Set(experts.map(\.unit)), Set(0..<5))
        XCTAssertGreaterThan(Alignment.crossAveragePrecision(experts: experts, on: e), 0.9)
        let baseline = try Alignment.permutationBaseline(experts: experts, pool: pool, positives: 20, permutations: 50, seed: 1)
        XCTAssertEqual(baseline, 0.1, accuracy: 0.05, "random labels give AP ≈ the positive rate")
    }

    func testSubsetDrawsAreThePoolsDrawsAtItsUnits() throws {
        // Three layers of different widths; the subset spans all of them, unsorted and repeated.
        let n = 120, widths = [7, 11, 5]
        var layers: [(layer: Int, activations: [Float])] = []
        for (l, w) in widths.enumerated() {
            var x = randomMatrix(n, w, seed: UInt64(20 + l))
            for i in stride(from: 0, to: n, by: 9) { x[i * w] = x[((i + 1) % n) * w] }   // ties inside a unit
            layers.append((layer: l + 2, activations: x))
        }
        let pool = try SentencePool(sentences: n, layers: layers)
        let index = UnitIndex(layers: pool.layers, layerSizes: pool.layerSizes)
        let members = [22, 0, 6, 7, 17, 18, 7, 3]
        let subset = try UnitSubset(pooled: layers.map(\.activations), units: index, sentences: n, members: members)
        XCTAssertEqual(subset.members, [0, 3, 6, 7, 17, 18, 22])
        let whole = try Alignment.permutedAveragePrecision(pool: pool, positives: 13, permutations: 6, seed: 5)
        let part = try Alignment.permutedAveragePrecision(subset: subset, positives: 13, permutations: 6, seed: 5)
        for (w, p) in zip(whole, part) {
            XCTAssertEqual(p.map(\.bitPattern), subset.members.map { w[$0].bitPattern })
        }
        let experts = [17, 3, 22].map { index.unit(at: $0)! }
        XCTAssertEqual(Alignment.permutationBaseline(experts: experts, draws: part, subset: subset).bitPattern,
                       Alignment.permutationBaseline(experts: experts, draws: whole, layerSizes: pool.layerSizes,
                                                     layers: pool.layers).bitPattern)
        var bad = layers.map(\.activations)
        bad[1][4 * widths[1] + 3] = .infinity
        XCTAssertThrowsError(try UnitSubset(pooled: bad, units: index, sentences: n, members: [7 + 3])) {
            XCTAssertEqual($0 as? ProbingError, .nonFinite(what: "activations", layer: 3, unit: 3, row: 4))
        }
        XCTAssertThrowsError(try UnitSubset(pooled: layers.map(\.activations), units: index, sentences: n, members: [23]))
    }

    func testDegenerateInputsGiveClearErrors() throws {
        let x = randomMatrix(10, 3, seed: 1)
        let pool = try SentencePool(sentences: 10, layers: [(layer: 4, activations: x)])
        XCTAssertThrowsError(try pool.expertise(positives: [], concept: "joy")) {
            XCTAssertEqual($0 as? ProbingError, .noPositives("joy"))
        }
        XCTAssertThrowsError(try pool.expertise(positives: Array(0..<10), concept: "joy")) {
            XCTAssertEqual($0 as? ProbingError, .noNegatives("joy"))
        }
        var bad = x
        bad[2 * 3 + 1] = .nan
        XCTAssertThrowsError(try SentencePool(sentences: 10, layers: [(layer: 4, activations: bad)])) {
            XCTAssertEqual($0 as? ProbingError, .nonFinite(what: "activations", layer: 4, unit: 1, row: 2))
            XCTAssertTrue("\($0)".contains("layer 4 unit 1"))
        }
        XCTAssertThrowsError(try LanguageProbe.run(features: x, labels: [Int](repeating: 0, count: 10), classes: 2)) {
            XCTAssertEqual($0 as? ProbingError, .oneClass("language probe"))
        }
        XCTAssertThrowsError(try LanguageProbe.run(features: [], labels: [], classes: 2))
        XCTAssertThrowsError(try Pooling.mean.pool([1, 2], lengths: [1, 0], units: 2))
        XCTAssertEqual(try AveragePrecision.score([0.3, 0.1], labels: [true, true]), 1)
        XCTAssertThrowsError(try AveragePrecision.score([0.3, 0.1], labels: [false, false]))
        XCTAssertEqual(try Pooling.mean.pool([1, 2, 3, 6], lengths: [2], units: 2), [2, 4])
        XCTAssertEqual(try Pooling.max.pool([1, 2, 3, 6, 0, -1], lengths: [2, 1], units: 2), [3, 6, 0, -1])
    }

    /// Pooling eight units at a time gives the bits of the plain definition — per unit, a Double
    /// sum (or Swift.max) over its tokens in order — for widths that are not multiples of eight,
    /// with signed zeros, NaN and infinities among the values.
    func testPoolingIsThePlainPerUnitLoop() throws {
        var rng = SplitMix64(seed: 21)
        for units in [1, 7, 37, 4096] {
            let lengths = [1, 5, 3, 26]
            var tokens = (0..<(lengths.reduce(0, +) * units)).map { _ in Float(rng.nextUniform() * 4 - 2) }
            for i in stride(from: 3, to: tokens.count, by: 11) { tokens[i] = i % 2 == 0 ? 0 : -0.0 }
            if units > 1 { tokens[units + 1] = .nan; tokens[2 * units] = .infinity }
            // The second sentence's first 16 units only signed zeros: max keeps the last of equals.
            for t in 1..<6 { for u in 0..<min(units, 16) where u != 1 { tokens[t * units + u] = (t == 1) == (u % 2 == 0) ? 0 : -0.0 } }
            for pooling in Pooling.allCases {
                var expected = [Float](repeating: 0, count: lengths.count * units), row = 0
                for (s, n) in lengths.enumerated() {
                    for u in 0..<units {
                        var acc: Double = pooling == .mean ? 0 : -.infinity
                        for t in row..<(row + n) {
                            let v = Double(tokens[t * units + u])
                            acc = pooling == .mean ? acc + v : Swift.max(acc, v)
                        }
                        expected[s * units + u] = Float(pooling == .mean ? acc / Double(n) : acc)
                    }
                    row += n
                }
                let got = try pooling.pool(tokens, lengths: lengths, units: units)
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(pooling), \(units) units")
                // Counting positives in the same pass: added to what the counts held, NaN, ±0 not positive;
                // at every level of the C pass this CPU runs (vector lanes and the scalar loop).
                let expectedCounts = (0..<units).map { u in
                    Int64(u % 3) + Int64((0..<lengths.reduce(0, +)).filter { tokens[$0 * units + u] > 0 }.count)
                }
                for level in [KernelPath.generic, .avx512] where level <= KernelPath.fp32 {
                    var counts = (0..<units).map { Int64($0 % 3) }
                    let counted = try counts.withUnsafeMutableBufferPointer {
                        try pooling.pool(tokens[...], lengths: lengths, units: units, countingPositivesInto: $0.baseAddress!, level: level)
                    }
                    XCTAssertEqual(counted.map(\.bitPattern), expected.map(\.bitPattern), "\(pooling), \(units) units at \(level)")
                    XCTAssertEqual(counts, expectedCounts, "\(pooling), \(units) units at \(level)")
                }
            }
        }
    }

    func testProbeSeedsAndConfusion() throws {
        let (n, d) = (300, 8)
        var x = randomMatrix(n, d, seed: 5)
        let labels = (0..<n).map { $0 % 3 }
        for i in 0..<n { x[i * d + labels[i]] += 20 }
        let probe = try LanguageProbe.run(features: x, labels: labels, classes: 3)
        XCTAssertEqual(probe.results.count, 3)
        XCTAssertGreaterThan(probe.meanAccuracy, 0.9)
        for r in probe.results {
            XCTAssertEqual(r.confusion.flatMap { $0 }.reduce(0, +), 60, "20% of 300 rows tested, stratified")
            XCTAssertEqual(r.confusion.map { $0.reduce(0, +) }, [20, 20, 20])
            XCTAssertTrue(r.converged)
        }
        let again = try LanguageProbe.run(features: x, labels: labels, classes: 3)
        XCTAssertEqual(again.accuracies, probe.accuracies, "deterministic")
    }
}
