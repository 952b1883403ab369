import Foundation
import Kernels
import XCTest
import Store
@testable import Sweep

final class LocalSweepTests: XCTestCase {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-sweep-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testInProcessSweepMergesAndResumes() throws {
        let dir = try scratch()
        let sweep = try ResolvedSweep(try SweepConfig(path: try SweepFixture.make(in: dir)))
        XCTAssertThrowsError(try Merge.run(sweep, toolVersion: "test")) { XCTAssertTrue("\($0)".contains("--allow-partial")) }
        var steps = 0
        try LocalRunner(sweep: sweep).run { _, _, _ in steps += 1 }
        XCTAssertEqual(steps, sweep.plan.tasks.count)
        let summary = try Merge.run(sweep, toolVersion: "test")
        XCTAssertEqual(summary.missing, [])
        let r = try HDF5Reader(path: summary.path)
        let acc = try r.doubles("probe_accuracy")
        XCTAssertEqual(acc.shape, [3, 4, 2])
        XCTAssertTrue(acc.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(try r.strings("checkpoint"), ["step1", "step2", "step3"])
        XCTAssertEqual(try r.strings("checkpoint_precision"), ["fp32", "fp32", "fp32"])
        XCTAssertEqual(try r.strings("checkpoint_kernels"), Array(repeating: "fp32 \(KernelPath.fp32) (portable numerics)", count: 3))
        XCTAssertEqual(try r.floats("overlap").shape, [3, 2, 4, 4])
        XCTAssertEqual(try r.ints("experts").shape, [3, 4, 2, 20])
        XCTAssertEqual(try r.strings("generation_text").count, 3 * 2 * 4 * 3)
        // Diagonal overlap of a language with itself is 1.
        let overlap = try r.floats("overlap").values
        XCTAssertEqual(overlap[0], 1)
        // Rerunning finds everything done and changes nothing.
        steps = 0
        try LocalRunner(sweep: sweep).run { _, _, _ in steps += 1 }
        XCTAssertEqual(steps, 0)
    }
}
