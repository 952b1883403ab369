import Foundation
import Kernels

/// Multinomial logistic regression with an L2 penalty, as scikit-learn's
/// `LogisticRegression(C=…)` (lbfgs, multinomial): it minimises
///   (1/n) Σ_i [log Σ_k exp(z_ik) − z_{i,y_i}] + 1/(2·C·n) · ‖W‖²,  z_i = W x_i + b,
/// the same minimiser as C·Σ loss + ½‖W‖² (the intercept is not penalised), by L-BFGS
/// (Nocedal & Wright 2006, alg. 7.4/7.5) with a backtracking Armijo line search. Products go
/// through `Linear.gemm`, split over threads by rows (scores) or columns (gradient): bit-identical
/// for any thread count and CPU level.
public struct LogisticRegression: Sendable {
    public let classes: Int
    public let features: Int
    /// `[classes, features]`.
    public let weights: [Float]
    public let bias: [Float]
    public let iterations: Int
    /// Loss-and-gradient evaluations (iterations plus line-search trials).
    public let evaluations: Int
    public let converged: Bool

    public struct Options: Sendable {
        public var c: Double = 1
        public var maxIterations = 200
        /// Stop when the largest gradient component is below this.
        public var tolerance = 1e-4
        public var memory = 10
        public init(c: Double = 1, maxIterations: Int = 200, tolerance: Double = 1e-4) {
            self.c = c
            self.maxIterations = maxIterations
            self.tolerance = tolerance
        }
    }

    /// - Parameters: x `[n, features]`; y class indices in 0..<classes.
    public static func fit(x: [Float], y: [Int], classes: Int, options: Options = Options()) throws -> LogisticRegression {
        let n = y.count
        guard n > 0, classes > 1 else { throw ProbingError.oneClass("logistic regression") }
        guard x.count % n == 0 else { throw ProbingError.shape("logistic regression: \(x.count) values for \(n) rows") }
        let d = x.count / n
        guard y.allSatisfy({ $0 >= 0 && $0 < classes }) else { throw ProbingError.shape("labels outside 0..<\(classes)") }
        guard Set(y).count > 1 else { throw ProbingError.oneClass("logistic regression") }
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw ProbingError.nonFinite(what: "probe features", layer: nil, unit: bad % d, row: bad / d)
        }
        let objective = Objective(x: x, y: y, n: n, d: d, k: classes, lambda: 1 / (options.c * Double(n)))
        var theta = [Double](repeating: 0, count: classes * d + classes)
        var (f, g) = objective.evaluate(theta)
        var evaluations = 1
        var history: [(s: [Double], y: [Double], rho: Double)] = []
        var iterations = 0
        var converged = g.map(abs).max()! <= options.tolerance
        while !converged && iterations < options.maxIterations {
            // Two-loop recursion: direction = −H·g.
            var q = g
            var alphas: [Double] = []
            for h in history.reversed() {
                let a = h.rho * dot(h.s, q)
                alphas.append(a)
                axpy(-a, h.y, &q)
            }
            if let last = history.last {
                let gamma = dot(last.s, last.y) / dot(last.y, last.y)
                for i in q.indices { q[i] *= gamma }
            } else {
                let scale = 1 / max(1e-12, sqrt(dot(g, g)))
                for i in q.indices { q[i] *= scale }
            }
            for (h, a) in zip(history, alphas.reversed()) {
                let b = h.rho * dot(h.y, q)
                axpy(a - b, h.s, &q)
            }
            let direction = q.map { -$0 }
            let slope = dot(g, direction)
            guard slope < 0 else { history.removeAll(); continue }
            var step = 1.0
            var accepted: (theta: [Double], f: Double, g: [Double])?
            for _ in 0..<40 {
                var candidate = theta
                axpy(step, direction, &candidate)
                let (fc, gc) = objective.evaluate(candidate)
                evaluations += 1
                if fc <= f + 1e-4 * step * slope {
                    accepted = (candidate, fc, gc)
                    break
                }
                step *= 0.5
            }
            iterations += 1
            guard let next = accepted else { break }   // no decrease within fp32 noise: at the optimum
            let s = zip(next.theta, theta).map { $0 - $1 }
            let yv = zip(next.g, g).map { $0 - $1 }
            let sy = dot(s, yv)
            if sy > 1e-12 {
                history.append((s, yv, 1 / sy))
                if history.count > options.memory { history.removeFirst() }
            }
            let decrease = f - next.f
            theta = next.theta
            f = next.f
            g = next.g
            converged = g.map(abs).max()! <= options.tolerance || decrease <= 1e-12 * max(1, abs(f))
        }
        return LogisticRegression(classes: classes, features: d, weights: theta[0..<(classes * d)].map(Float.init),
                                  bias: theta[(classes * d)...].map(Float.init), iterations: iterations, evaluations: evaluations,
                                  converged: converged)
    }

    /// Class scores `[n, classes]` of rows `x` `[n, features]`.
    public func decision(_ x: [Float]) -> [Float] {
        Objective.scores(x: x, n: x.count / features, d: features, k: classes, w: weights, b: bias)
    }

    public func predict(_ x: [Float]) -> [Int] {
        let z = decision(x)
        return (0..<(x.count / features)).map { i in
            var best = 0
            for c in 1..<classes where z[i * classes + c] > z[i * classes + best] { best = c }
            return best
        }
    }
}

/// Loss and gradient of the penalised multinomial log-likelihood over θ = [W (k×d), b (k)].
struct Objective: Sendable {
    let x: [Float]
    let y: [Int]
    let n: Int, d: Int, k: Int
    let lambda: Double
    /// `x` in sixteen-row column blocks (`RowBlocks`), built once per fit for the scores.
    let blocks: RowBlocks?

    init(x: [Float], y: [Int], n: Int, d: Int, k: Int, lambda: Double) {
        self.x = x
        self.y = y
        self.n = n
        self.d = d
        self.k = k
        self.lambda = lambda
        blocks = k <= RowBlocks.maximumClasses ? RowBlocks(x, rows: n, columns: d) : nil
    }

    static func scores(x: [Float], n: Int, d: Int, k: Int, w: [Float], b: [Float]) -> [Float] {
        if k <= RowBlocks.maximumClasses { return RowBlocks(x, rows: n, columns: d).scores(classes: k, w: w, b: b) }
        var z = [Float](repeating: 0, count: n * k)
        z.withUnsafeMutableBufferPointer { zp in
            let zs = SharedPointer(zp.baseAddress!)
            x.withUnsafeBufferPointer { xp in
                let xs = SharedPointer(UnsafeMutablePointer(mutating: xp.baseAddress!))
                w.withUnsafeBufferPointer { wp in
                    let ws = SharedPointer(UnsafeMutablePointer(mutating: wp.baseAddress!))
                    parallelChunks(n, minimumChunk: 512) { rows in
                        for i in rows { for c in 0..<k { zs.base[i * k + c] = b[c] } }
                        Linear.gemm(m: rows.count, n: k, k: d, alpha: 1, a: xs.base + rows.lowerBound * d, lda: d,
                                    b: ws.base, ldb: d, transposeB: true, beta: 1, c: zs.base + rows.lowerBound * k, ldc: k)
                    }
                }
            }
        }
        return z
    }

    /// ∇W `[k, d]` = Rᵀ X for residuals R `[n, k]`: split over feature columns; each element sums
    /// its rows in order.
    func weightGradient(_ r: [Float]) -> [Float] {
        var gradW = [Float](repeating: 0, count: k * d)
        gradW.withUnsafeMutableBufferPointer { gp in
            let gs = SharedPointer(gp.baseAddress!)
            r.withUnsafeBufferPointer { rp in
                let rs = SharedPointer(UnsafeMutablePointer(mutating: rp.baseAddress!))
                x.withUnsafeBufferPointer { xp in
                    let xs = SharedPointer(UnsafeMutablePointer(mutating: xp.baseAddress!))
                    if k <= RowBlocks.maximumClasses {
                        // Features in the 16 lanes, per block of 256 features and at most four
                        // classes: rows four at a time are folded into accumulators that stay in L1,
                        // each element as acc + (((x0·r0 + x1·r1) + x2·r2) + x3·r3) in row order.
                        let block = 256, vectors = block / 16
                        let blocks = (d + block - 1) / block
                        let quads = (k + 3) / 4
                        parallelChunks(blocks * quads) { items in
                            let acc = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: 4 * vectors)
                            defer { acc.deallocate() }
                            for item in items {
                                let bIndex = item / quads, c0 = (item % quads) * 4, cw = min(4, k - c0)
                                let j0 = bIndex * block, width = min(block, d - j0)
                                let full = width / 16
                                acc.initialize(repeating: SIMD16(), count: 4 * vectors)
                                // Columns past the last whole vector are gathered into zero-padded vectors.
                                @inline(__always) func load(_ row: UnsafePointer<Float>, _ v: Int) -> SIMD16<Float> {
                                    if _fastPath(v < full) { return UnsafeRawPointer(row + v * 16).loadUnaligned(as: SIMD16<Float>.self) }
                                    var t = SIMD16<Float>()
                                    for l in 0..<(width - full * 16) { t[l] = row[full * 16 + l] }
                                    return t
                                }
                                let used = (width + 15) / 16
                                // Classes past the last are summed on class c0's residuals and not stored.
                                let (q1, q2, q3) = (min(1, cw - 1), min(2, cw - 1), min(3, cw - 1))
                                let (p0, p1, p2, p3) = (acc, acc + vectors, acc + 2 * vectors, acc + 3 * vectors)
                                var i = 0
                                while i + 4 <= n {
                                    let x0 = UnsafePointer(xs.base + i * d + j0), x1 = x0 + d, x2 = x1 + d, x3 = x2 + d
                                    let r0 = rs.base + i * k + c0, r1 = r0 + k, r2 = r1 + k, r3 = r2 + k
                                    let (s00, s10, s20, s30) = (r0[0], r1[0], r2[0], r3[0])
                                    let (s01, s11, s21, s31) = (r0[q1], r1[q1], r2[q1], r3[q1])
                                    let (s02, s12, s22, s32) = (r0[q2], r1[q2], r2[q2], r3[q2])
                                    let (s03, s13, s23, s33) = (r0[q3], r1[q3], r2[q3], r3[q3])
                                    for v in 0..<used {
                                        let (a0, a1, a2, a3) = (load(x0, v), load(x1, v), load(x2, v), load(x3, v))
                                        p0[v] += a0 * s00 + a1 * s10 + a2 * s20 + a3 * s30
                                        p1[v] += a0 * s01 + a1 * s11 + a2 * s21 + a3 * s31
                                        p2[v] += a0 * s02 + a1 * s12 + a2 * s22 + a3 * s32
                                        p3[v] += a0 * s03 + a1 * s13 + a2 * s23 + a3 * s33
                                    }
                                    i += 4
                                }
                                while i < n {
                                    let xi = UnsafePointer(xs.base + i * d + j0), r = rs.base + i * k + c0
                                    let (s0, s1, s2, s3) = (r[0], r[q1], r[q2], r[q3])
                                    for v in 0..<used {
                                        let a = load(xi, v)
                                        p0[v] += a * s0
                                        p1[v] += a * s1
                                        p2[v] += a * s2
                                        p3[v] += a * s3
                                    }
                                    i += 1
                                }
                                for c in 0..<cw {
                                    for j in 0..<width { gs.base[(c0 + c) * d + j0 + j] = acc[c * vectors + j / 16][j % 16] }
                                }
                            }
                        }
                        return
                    }
                    parallelChunks(d, minimumChunk: 64) { cols in
                        Linear.gemm(m: k, n: cols.count, k: n, alpha: 1, a: rs.base, lda: k, transposeA: true,
                                    b: xs.base + cols.lowerBound, ldb: d, transposeB: false, beta: 0,
                                    c: gs.base + cols.lowerBound, ldc: d)
                    }
                }
            }
        }
        return gradW
    }

    func evaluate(_ theta: [Double]) -> (Double, [Double]) {
        let w = theta[0..<(k * d)].map(Float.init)
        let b = theta[(k * d)...].map(Float.init)
        var z = blocks?.scores(classes: k, w: w, b: b) ?? Self.scores(x: x, n: n, d: d, k: k, w: w, b: b)
        // Softmax in double, row-parallel; z becomes (P − Y)/n, the gradient of the loss w.r.t. the
        // scores. Per-row losses are summed afterwards in row order (thread-count independent).
        var rowLoss = [Double](repeating: 0, count: n)
        z.withUnsafeMutableBufferPointer { zp in
            let zs = SharedPointer(zp.baseAddress!)
            rowLoss.withUnsafeMutableBufferPointer { lp in
                let ls = SharedPointer(lp.baseAddress!)
                parallelChunks(n, minimumChunk: 1024) { rows in
                    var e = [Double](repeating: 0, count: k)
                    for i in rows {
                        let zi = zs.base + i * k
                        var m = -Double.infinity
                        for c in 0..<k { m = max(m, Double(zi[c])) }
                        var sum = 0.0
                        for c in 0..<k { e[c] = exp(Double(zi[c]) - m); sum += e[c] }
                        ls.base[i] = m + log(sum) - Double(zi[y[i]])
                        let inverse = 1 / sum
                        for c in 0..<k { zi[c] = Float((e[c] * inverse - (c == y[i] ? 1 : 0)) / Double(n)) }
                    }
                }
            }
        }
        let loss = rowLoss.reduce(0, +)
        var gradB = [Double](repeating: 0, count: k)
        for i in 0..<n { for c in 0..<k { gradB[c] += Double(z[i * k + c]) } }
        // ∇W = (P − Y)ᵀ X / n + λ W (z holds (P − Y)/n).
        let gradW = weightGradient(z)
        var penalty = 0.0
        var gradient = [Double](repeating: 0, count: theta.count)
        for i in 0..<(k * d) {
            penalty += theta[i] * theta[i]
            gradient[i] = Double(gradW[i]) + lambda * theta[i]
        }
        for c in 0..<k { gradient[k * d + c] = gradB[c] }
        return (loss / Double(n) + 0.5 * lambda * penalty, gradient)
    }
}

@inline(__always) func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in a.indices { s += a[i] * b[i] }
    return s
}

@inline(__always) func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
    for i in y.indices { y[i] += alpha * x[i] }
}
