import Foundation
import Kernels

/// A language-ID probe on one layer (Riemenschneider & Frank 2025, §3.1): standardised features,
/// a stratified train/test split per seed, multinomial logistic regression; test accuracy per seed.
public struct LanguageProbe: Sendable {
    public struct SeedResult: Sendable {
        public let seed: UInt64
        public let accuracy: Double
        /// `[true class][predicted class]` counts on the test split.
        public let confusion: [[Int]]
        public let iterations: Int
        public let converged: Bool
        /// The held-out rows this seed was scored on (sorted), so the split can be checked.
        public let test: [Int]
    }

    public let classes: Int
    public let results: [SeedResult]

    public var accuracies: [Double] { results.map(\.accuracy) }
    public var meanAccuracy: Double { accuracies.reduce(0, +) / Double(accuracies.count) }
    /// Population standard deviation over seeds (numpy's default, ddof = 0).
    public var sdAccuracy: Double {
        let m = meanAccuracy
        return (accuracies.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(accuracies.count)).squareRoot()
    }

    /// - Parameters: features `[n, d]` (one row per token); labels in 0..<classes.
    public static func run(features: [Float], labels: [Int], classes: Int, seeds: [UInt64] = [0, 1, 2],
                           testFraction: Double = 0.2, options: LogisticRegression.Options = .init()) throws -> LanguageProbe {
        let n = labels.count
        guard n > 0 else { throw ProbingError.empty("language probe") }
        guard features.count % n == 0 else { throw ProbingError.shape("probe: \(features.count) values for \(n) rows") }
        let d = features.count / n
        if let bad = features.firstIndex(where: { !$0.isFinite }) {
            throw ProbingError.nonFinite(what: "probe features", layer: nil, unit: bad % d, row: bad / d)
        }
        let present = Set(labels)
        guard present.count > 1 else { throw ProbingError.oneClass("language probe") }
        var results: [SeedResult] = []
        for seed in seeds {
            let (train, test) = stratifiedSplit(labels: labels, testFraction: testFraction, seed: seed)
            guard !test.isEmpty, Set(train.map { labels[$0] }).count > 1 else {
                throw ProbingError.oneClass("language probe (seed \(seed): too few examples per class to split)")
            }
            let scaler = Standardizer(rows: train, of: features, d: d)
            let xTrain = scaler.transform(rows: train, of: features)
            let xTest = scaler.transform(rows: test, of: features)
            let model = try LogisticRegression.fit(x: xTrain, y: train.map { labels[$0] }, classes: classes, options: options)
            let predicted = model.predict(xTest)
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
            var correct = 0
            for (i, row) in test.enumerated() {
                confusion[labels[row]][predicted[i]] += 1
                if labels[row] == predicted[i] { correct += 1 }
            }
            results.append(SeedResult(seed: seed, accuracy: Double(correct) / Double(test.count), confusion: confusion,
                                      iterations: model.iterations, converged: model.converged, test: test))
        }
        return LanguageProbe(classes: classes, results: results)
    }

    /// Per class, a seeded shuffle (SplitMix64, Fisher–Yates) and the first round(fraction · count)
    /// rows to test (at least one when the class has two or more rows). Returns sorted row indices.
    public static func stratifiedSplit(labels: [Int], testFraction: Double, seed: UInt64) -> (train: [Int], test: [Int]) {
        var rng = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for c in Set(labels).sorted() {
            var rows = labels.indices.filter { labels[$0] == c }
            for i in stride(from: rows.count - 1, to: 0, by: -1) {
                rows.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
            var t = Int((testFraction * Double(rows.count)).rounded())
            if rows.count >= 2 { t = min(max(t, 1), rows.count - 1) } else { t = 0 }
            test += rows[..<t]
            train += rows[t...]
        }
        return (train.sorted(), test.sorted())
    }
}

/// z = (x − mean) / std per feature, fitted on training rows (scikit-learn's StandardScaler:
/// population std, and 1 where a feature is constant). Transforming multiplies by 1/std.
public struct Standardizer: Sendable {
    public let mean: [Double]
    public let scale: [Double]

    /// Two passes (mean, then squared deviations), 16 features at a time: fp32 sums over blocks of
    /// 64 rows, accumulated in double. Parallel over feature columns; each column's sums run in row
    /// order, so the result does not depend on the thread count.
    public init(rows: [Int], of x: [Float], d: Int) {
        var mean = [Double](repeating: 0, count: d), scale = [Double](repeating: 1, count: d)
        let count = Double(rows.count)
        let groups = (d + 15) / 16
        mean.withUnsafeMutableBufferPointer { mp in
            scale.withUnsafeMutableBufferPointer { sp in
                let ms = SharedPointer(mp.baseAddress!), ss = SharedPointer(sp.baseAddress!)
                x.withUnsafeBufferPointer { xp in
                    let xs = SharedPointer(UnsafeMutablePointer(mutating: xp.baseAddress!))
                    parallelChunks(groups, minimumChunk: 2) { range in
                        for g in range {
                            let j0 = g * 16, width = min(16, d - j0)
                            @inline(__always) func load(_ r: Int) -> SIMD16<Float> {
                                if width == 16 { return UnsafeRawPointer(xs.base + r * d + j0).loadUnaligned(as: SIMD16<Float>.self) }
                                var v = SIMD16<Float>()
                                for c in 0..<width { v[c] = xs.base[r * d + j0 + c] }
                                return v
                            }
                            func blockSums(_ term: (SIMD16<Float>) -> SIMD16<Float>) -> [Double] {
                                var total = [Double](repeating: 0, count: 16)
                                var start = 0
                                while start < rows.count {
                                    var acc = SIMD16<Float>()
                                    for i in start..<min(rows.count, start + 64) { acc += term(load(rows[i])) }
                                    for c in 0..<16 { total[c] += Double(acc[c]) }
                                    start += 64
                                }
                                return total
                            }
                            let m = blockSums { $0 }.map { $0 / count }
                            var mf = SIMD16<Float>()
                            for c in 0..<16 { mf[c] = Float(m[c]) }
                            // Deviations from the fp32-rounded mean, corrected to the exact mean.
                            let correction = (0..<16).map { m[$0] - Double(mf[$0]) }
                            let sq = blockSums { let v = $0 - mf; return v * v }
                            for c in 0..<width {
                                ms.base[j0 + c] = m[c]
                                let variance = max(0, sq[c] / count - correction[c] * correction[c])
                                let sd = variance.squareRoot()
                                ss.base[j0 + c] = sd > 0 ? sd : 1
                            }
                        }
                    }
                }
            }
        }
        self.mean = mean
        self.scale = scale
    }

    public func transform(rows: [Int], of x: [Float]) -> [Float] {
        let d = mean.count
        let inverse = scale.map { 1 / $0 }
        var out = [Float](repeating: 0, count: rows.count * d)
        out.withUnsafeMutableBufferPointer { op in
            let os = SharedPointer(op.baseAddress!)
            x.withUnsafeBufferPointer { xp in
                let xs = SharedPointer(UnsafeMutablePointer(mutating: xp.baseAddress!))
                parallelChunks(rows.count, minimumChunk: 256) { range in
                    for i in range {
                        let src = xs.base + rows[i] * d, dst = os.base + i * d
                        for j in 0..<d { dst[j] = Float((Double(src[j]) - mean[j]) * inverse[j]) }
                    }
                }
            }
        }
        return out
    }
}
