import Foundation
import XCTest

/// `--dtype` and the run-time kernel dispatch through the real executable.
final class PrecisionTests: XCTestCase {
    func input(_ dir: String) throws -> String {
        let path = dir + "/in.txt"
        try "In the beginning God created the heaven and the earth.\nAu commencement, Dieu créa les cieux et la terre.\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Forcing a lower level (AVX-512 hidden) takes a valid path, says so, and gives the same bits.
    func testForcedFallbacksGiveTheSameActivations() throws {
        let dir = try CLI.scratch(self)
        let args = ["extract", "--model", CLI.fixtures + "/bloom-tiny-bf16", "--input", try input(dir), "--sites", "hidden.*",
                    "--format", "jsonl", "--dtype", "bf16"]
        let native = try CLI.run(args)
        XCTAssertEqual(native.status, 0, native.stderr)
        XCTAssertTrue(native.stderr.contains("weights bf16 (--dtype bf16); bf16 products on"), native.stderr)
        for level in ["avx2", "generic"] {
            let forced = try CLI.run(args, environment: ["XLSWEEP_CPU": level])
            XCTAssertEqual(forced.status, 0, forced.stderr)
            XCTAssertTrue(forced.stderr.contains("\(level) kernels"), forced.stderr)
            XCTAssertEqual(forced.stdout, native.stdout, "XLSWEEP_CPU=\(level)")
        }
        let fp32 = try CLI.run(Array(args.dropLast(2)) + ["--dtype", "fp32"])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        XCTAssertNotEqual(fp32.stdout, native.stdout, "fp32 and bf16 products differ")
    }

    func testAutoSaysWhichAndWhy() throws {
        let dir = try CLI.scratch(self)
        let r = try CLI.run(["extract", "--model", CLI.fixtures + "/bloom-tiny", "--input", try input(dir), "--sites", "hidden.1",
                             "--format", "jsonl"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("weights fp32 (auto: 0.0 GB in fp32 fits in"), r.stderr)
    }

    func testBadCPUSwitchIsNamed() throws {
        let dir = try CLI.scratch(self)
        let r = try CLI.run(["extract", "--model", CLI.fixtures + "/bloom-tiny", "--input", try input(dir), "--sites", "hidden.1",
                             "--format", "jsonl", "--dtype", "bf16"], environment: ["XLSWEEP_CPU": "avx9"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "xlsweep: error: XLSWEEP_CPU='avx9' is not one of generic, avx2, avx512, avx512-bf16\n")
        // Every command checks it, a worker included (its kernels would otherwise ignore it).
        let worker = try CLI.run(["worker", "--connect", "tcp://127.0.0.1:1"], environment: ["XLSWEEP_CPU": "avx9"])
        XCTAssertEqual(worker.status, 1)
        XCTAssertTrue(worker.stderr.hasPrefix("xlsweep: error: XLSWEEP_CPU='avx9'"), worker.stderr)
        let typo = try CLI.run(["extract", "--model", CLI.fixtures + "/bloom-tiny", "--input", try input(dir), "--sites", "hidden.1",
                                "--dtype", "bf61"])
        XCTAssertNotEqual(typo.status, 0)
        XCTAssertTrue(typo.stderr.contains("bf61"), typo.stderr)
    }
}
