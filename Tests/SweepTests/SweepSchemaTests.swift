import Foundation
import Store
import XCTest

/// The one table of sweep.h5's datasets, and reading by named axis.
final class SweepSchemaTests: XCTestCase {
    func testEveryDimensionIsAnAxisTheSchemaDescribes() {
        for name in SweepSchema.names {
            for d in SweepSchema.dimensions(name) {
                XCTAssertEqual(SweepSchema.dimensions(d), [d], "\(name): its axis \(d) is not an axis dataset of the schema")
            }
        }
        XCTAssertEqual(SweepSchema.dimensions("probe_accuracy"), ["checkpoint", "layer", "seed"])
        XCTAssertEqual(SweepSchema.dimensions("logit_lens_mass"), ["checkpoint", "language", "layer", "target"])
    }

    func testNamedAccessIsRowMajorAndRefusesAnotherLayout() throws {
        let shape = [2, 3, 4]
        let values = (0..<24).map(Double.init)
        let a = try SweepArray(name: "probe_accuracy", values: values, shape: shape)
        for c in 0..<2 { for l in 0..<3 { for s in 0..<4 {
            XCTAssertEqual(a[["seed": s, "checkpoint": c, "layer": l]], values[(c * 3 + l) * 4 + s])
        } } }
        XCTAssertEqual(a.along("seed", ["checkpoint": 1, "layer": 2]), [20, 21, 22, 23])
        XCTAssertEqual(a.count("layer"), 3)
        XCTAssertThrowsError(try SweepArray(name: "probe_accuracy", values: values, shape: [24]))
        XCTAssertThrowsError(try SweepArray(name: "probe_accuracy", values: values, shape: [2, 3, 5]))
        XCTAssertThrowsError(try SweepArray(name: "no_such_dataset", values: values, shape: shape))
    }
}
