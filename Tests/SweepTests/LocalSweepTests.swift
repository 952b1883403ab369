import Foundation
import Kernels
import TestSupport
import XCTest
import Store
@testable import SweepRunner
@testable import SweepCore

final class LocalSweepTests: XCTestCase {
    func scratch() throws -> String { try TestSupport.scratch(self, prefix: "xlsweep-sweep") }

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

final class ArchitectureSweepTests: XCTestCase {
    /// A whole sweep (extraction, probes, experts, LAPE, alignment, forced generation) over a
    /// random-weight checkpoint of each newer architecture, with the same task graph as BLOOM's
    /// (one sweep each: checkpoints of one sweep.h5 share their shape).
    func testSweepOverLlamaGPTNeoXAndOLMo2Checkpoints() throws {
        let f = SweepFixture.fixtures
        for (name, fixture) in [("llama", "llama-tiny"), ("gpt-neox", "gpt-neox-tiny"), ("olmo2", "olmo2-tiny")] {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-\(name)-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
            let config = """
                name: \(name)
                output: out
                data: \(f)/sweep-data
                languages: [en, es, fr, de]
                checkpoints:
                  - {name: \(name), path: \(f)/\(fixture)}
                probe: {tokens_per_language: 40, seeds: 2}
                expertise: {k: 20, min_positives: 3}
                alignment: {permutations: 3}
                generation: {samples: 2, new_tokens: 4}
                """
            try config.write(toFile: dir + "/sweep.yaml", atomically: true, encoding: .utf8)
            let sweep = try ResolvedSweep(try SweepConfig(path: dir + "/sweep.yaml"))
            try LocalRunner(sweep: sweep).run { _, _, _ in }
            let summary = try Merge.run(sweep, toolVersion: "test")
            XCTAssertEqual(summary.missing, [], name)
            let r = try HDF5Reader(path: summary.path)
            XCTAssertEqual(try r.strings("checkpoint"), [name])
            let acc = try r.doubles("probe_accuracy")
            XCTAssertEqual(acc.shape, [1, 4, 2], name)
            XCTAssertTrue(acc.values.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(name): \(acc.values)")
            XCTAssertEqual(try r.ints("experts").shape, [1, 4, 2, 20], name)
            XCTAssertEqual(try r.strings("generation_text").count, 1 * 2 * 4 * 2, name)
        }
    }
}
