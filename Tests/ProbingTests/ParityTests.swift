import Checkpoints
import Foundation
import TestSupport
import XCTest
@testable import Probing

/// Average precision, percentiles and the probe against scikit-learn and numpy
/// (tools/make_probing_fixtures.py).
final class ProbingParityTests: XCTestCase {
    static let fixtures = TestSupport.fixtures + "/probing"

    func tensors(_ name: String) throws -> [String: TensorRecord] { try Safetensors.read(path: Self.fixtures + "/" + name) }

    func testAveragePrecisionPercentilesAndOffMeanMatchSklearnAndNumpy() throws {
        let t = try tensors("ap.safetensors")
        for name in ["random", "ties", "single", "negative_zero"] {
            let scores = try t["\(name).scores"]!.floats()
            let labels = try t["\(name).labels"]!.ints()
            let n = labels.count, units = scores.count / n
            let positives = labels.indices.filter { labels[$0] == 1 }
            let pool = try SentencePool(sentences: n, layers: [(layer: 3, activations: scores)])
            let e = try pool.expertise(positives: positives)
            let expected = try t["\(name).ap"]!.doubles()
            for (what, ours, reference) in [("ap", e.averagePrecision, expected),
                                             ("p50", e.onP50, try t["\(name).p50"]!.doubles()),
                                             ("p90", e.onP90, try t["\(name).p90"]!.doubles()),
                                             ("off_mean", e.offMean, try t["\(name).off_mean"]!.doubles())] {
                XCTAssertEqual(ours.count, units)
                for u in 0..<units {
                    XCTAssertEqual(ours[u], reference[u], accuracy: 1e-6 * max(1, abs(reference[u])), "\(name) \(what) unit \(u)")
                }
            }
            // The scalar reference agrees with the batched ranking.
            for u in 0..<units {
                let column = (0..<n).map { scores[$0 * units + u] }
                XCTAssertEqual(try AveragePrecision.score(column, labels: labels.map { $0 == 1 }), expected[u], accuracy: 1e-12)
            }
        }
    }

    func testProbeAgreesWithSklearn() throws {
        let t = try tensors("probe.safetensors")
        let xTrain = try t["x_train"]!.floats(), yTrain = try t["y_train"]!.ints()
        let xTest = try t["x_test"]!.floats(), yTest = try t["y_test"]!.ints()
        let reference = try t["predicted"]!.ints()
        let d = xTrain.count / yTrain.count
        let scaler = Standardizer(rows: Array(yTrain.indices), of: xTrain, d: d)
        let model = try LogisticRegression.fit(x: scaler.transform(rows: Array(yTrain.indices), of: xTrain), y: yTrain,
                                               classes: 5, options: .init(c: 1, maxIterations: 1000, tolerance: 1e-6))
        XCTAssertTrue(model.converged)
        let predicted = model.predict(scaler.transform(rows: Array(yTest.indices), of: xTest))
        let agreement = Double(zip(predicted, reference).filter { $0 == $1 }.count) / Double(reference.count)
        XCTAssertGreaterThanOrEqual(agreement, 0.995, "prediction agreement with scikit-learn")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/probe.json")))
            as! [String: Any]
        let accuracy = Double(zip(predicted, yTest).filter { $0 == $1 }.count) / Double(yTest.count)
        XCTAssertEqual(accuracy, meta["accuracy"] as! Double, accuracy: 0.005)
    }
}
