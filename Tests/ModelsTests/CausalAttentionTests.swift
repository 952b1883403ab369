import XCTest
import Kernels
@testable import Models

/// Causal attention computes each block of queries against only the keys its last query sees,
/// and a decoding step's single query with one-row products: the same bits as the full score
/// square masked afterwards (the products' chains are per element; a chain's trailing masked terms
/// are fma(0, v, acc) = acc), with and without ALiBi, after a cache prefix, across block edges,
/// and with the queries (and, without a cache, the keys and values) read in place at a fused QKV
/// product's strides.
final class CausalAttentionTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float(rng.nextUniform() * 2 - 1) }
    }

    /// The full square: scores for every key, masked, softmaxed, times every value.
    func fullSquare(q: [Float], k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, past: Int, heads: Int, hd: Int,
                    scale: Float, slopes: [Float]?) -> [Float] {
        let width = heads * hd, keys = past + n
        var out = [Float](repeating: 0, count: n * width)
        for h in 0..<heads {
            var p = [Float](repeating: 0, count: n * keys)
            if let slopes { for i in 0..<n { for j in 0..<keys { p[i * keys + j] = slopes[h] * Float(j) } } }
            q.withUnsafeBufferPointer { qp in
                Linear.gemm(m: n, n: keys, k: hd, alpha: scale, a: qp.baseAddress! + h * hd, lda: width, b: k + h * hd, ldb: width,
                            transposeB: true, beta: slopes == nil ? 0 : 1, c: &p, ldc: keys)
            }
            p.withUnsafeMutableBufferPointer { pp in
                for i in 0..<n {
                    let visible = past + i + 1
                    Softmax.row(pp.baseAddress! + i * keys, count: visible)
                    (pp.baseAddress! + i * keys + visible).update(repeating: 0, count: keys - visible)
                }
            }
            out.withUnsafeMutableBufferPointer { op in
                Linear.gemm(m: n, n: hd, k: keys, alpha: 1, a: p, lda: keys, b: v + h * hd, ldb: width, transposeB: false, beta: 0,
                            c: op.baseAddress! + h * hd, ldc: width)
            }
        }
        return out
    }

    func testBlockedAndSingleQueryAttentionEqualTheFullSquare() {
        let heads = 3, hd = 20, width = heads * hd
        for (past, n) in [(0, 1), (0, 7), (0, 61), (13, 1), (5, 30), (40, 24), (2, 49)] {
            for slopes in [nil, [0.5, 0.25, 0.125] as [Float]] {
                let keys = past + n
                let cache = KVCache(layers: 1, width: width)
                cache.reserve(keys)
                let kv = random(2 * keys * width, seed: UInt64(keys))
                cache.keys[0].pointer.update(from: kv, count: keys * width)
                kv.withUnsafeBufferPointer { cache.values[0].pointer.update(from: $0.baseAddress! + keys * width, count: keys * width) }
                cache.advance(past)
                let q = random(n * width, seed: UInt64(n) + 99)
                var out = [Float](repeating: .nan, count: n * width)
                q.withUnsafeBufferPointer { qp in
                    CausalAttention.run(q: qp.baseAddress!, keysValues: .caches([cache], layer: 0), lengths: [n], heads: heads, headDim: hd,
                                        scale: 0.2236068, slopes: slopes, out: &out)
                }
                let expected = fullSquare(q: q, k: cache.keys[0].pointer, v: cache.values[0].pointer, n: n, past: past, heads: heads,
                                          hd: hd, scale: 0.2236068, slopes: slopes)
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "past \(past), \(n) new, ALiBi \(slopes != nil)")
                // The queries read in place from a fused `[n, heads, 3, hd]` buffer (BLOOM's QKV
                // product), the key and value slots NaN: the same bits.
                var fused = [Float](repeating: .nan, count: n * 3 * width)
                for i in 0..<n { for h in 0..<heads { for d in 0..<hd { fused[i * 3 * width + h * 3 * hd + d] = q[i * width + h * hd + d] } } }
                var strided = [Float](repeating: .nan, count: n * width)
                fused.withUnsafeBufferPointer { qp in
                    CausalAttention.run(q: qp.baseAddress!, keysValues: .caches([cache], layer: 0), lengths: [n], heads: heads, headDim: hd,
                                        scale: 0.2236068, slopes: slopes, queryRows: (3 * width, 3 * hd), out: &strided)
                }
                XCTAssertEqual(strided.map(\.bitPattern), expected.map(\.bitPattern), "strided queries: past \(past), \(n) new")
                // A forward without caches (no past): queries, keys and values all read in place from
                // the fused buffer, nothing copied.
                guard past == 0 else { continue }
                for i in 0..<n {
                    for h in 0..<heads {
                        for d in 0..<hd {
                            fused[i * 3 * width + h * 3 * hd + hd + d] = cache.keys[0].pointer[i * width + h * hd + d]
                            fused[i * 3 * width + h * 3 * hd + 2 * hd + d] = cache.values[0].pointer[i * width + h * hd + d]
                        }
                    }
                }
                var inPlace = [Float](repeating: .nan, count: n * width)
                fused.withUnsafeBufferPointer { qp in
                    let rows = KeyValueSource.rows(keys: qp.baseAddress! + hd, values: qp.baseAddress! + 2 * hd, rowStride: 3 * width,
                                                   headStride: 3 * hd)
                    CausalAttention.run(q: qp.baseAddress!, keysValues: rows, lengths: [n], heads: heads, headDim: hd,
                                        scale: 0.2236068, slopes: slopes, queryRows: (3 * width, 3 * hd), out: &inPlace)
                }
                XCTAssertEqual(inPlace.map(\.bitPattern), expected.map(\.bitPattern), "keys and values in place: \(n) new")
            }
        }
    }
}
