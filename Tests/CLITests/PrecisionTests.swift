import Foundation
import XCTest
import Kernels

/// `--dtype` and the run-time kernel dispatch through the real executable.
final class PrecisionTests: XCTestCase {
    func input(_ dir: String) throws -> String {
        let path = dir + "/in.txt"
        try "In the beginning God created the heaven and the earth.\nAu commencement, Dieu créa les cieux et la terre.\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Forcing a lower level (AVX-512 hidden) takes a valid path and says so; the portable levels give
    /// the same bits, AMX (its own accumulation order) the same values within bf16 precision.
    func testForcedFallbacksGiveTheSameActivations() throws {
        let dir = try CLI.scratch(self)
        let args = ["extract", "--model", CLI.fixtures + "/bloom-tiny-bf16", "--input", try input(dir), "--sites", "hidden.*",
                    "--format", "jsonl", "--dtype", "bf16"]
        let native = try CLI.run(args)
        XCTAssertEqual(native.status, 0, native.stderr)
        XCTAssertTrue(native.stderr.contains("weights bf16 (--dtype bf16); bf16 products on"), native.stderr)
        let generic = try CLI.run(args, environment: ["XLSWEEP_CPU": "generic"])
        XCTAssertEqual(generic.status, 0, generic.stderr)
        XCTAssertTrue(generic.stderr.contains("generic kernels"), generic.stderr)
        let avx2 = try CLI.run(args, environment: ["XLSWEEP_CPU": "avx2"])
        XCTAssertEqual(avx2.status, 0, avx2.stderr)
        XCTAssertTrue(avx2.stderr.contains("avx2 kernels"), avx2.stderr)
        XCTAssertEqual(avx2.stdout, generic.stdout, "XLSWEEP_CPU=avx2 vs generic")
        if native.stderr.contains("amx-bf16 kernels") {
            let portable = try activations(generic.stdout), amx = try activations(native.stdout)
            XCTAssertEqual(portable.count, amx.count)
            let largest = portable.map(abs).max() ?? 1
            let worst = zip(portable, amx).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-2 * largest, "AMX vs portable bf16 products")
        } else {
            XCTAssertEqual(native.stdout, generic.stdout, "native vs XLSWEEP_CPU=generic")
        }
        let fp32 = try CLI.run(Array(args.dropLast(2)) + ["--dtype", "fp32"])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        XCTAssertNotEqual(fp32.stdout, native.stdout, "fp32 and bf16 products differ")
    }

    /// Every activation value of `extract --format jsonl` output, in order.
    func activations(_ jsonl: String) throws -> [Double] {
        var values: [Double] = []
        for line in jsonl.split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let sites = try XCTUnwrap(object["sites"] as? [String: [[Double]]])
            for name in sites.keys.sorted() { values += sites[name]!.flatMap { $0 } }
        }
        return values
    }

    /// `bench forward` names the fp32 kernel level it ran (capped by XLSWEEP_CPU) and compares with
    /// OpenBLAS twice where OpenBLAS took narrower kernels than the CPU runs: as it is, and with
    /// the widest family forced in a child process.
    func testBenchNamesTheKernels() throws {
        let args = ["bench", "forward", "--layers", "1", "--hidden", "64", "--heads", "4", "--vocab", "100", "--batch", "1",
                    "--seq-len", "4", "--iterations", "1", "--no-torch"]
        let r = try CLI.run(args, environment: ["OPENBLAS_CORETYPE": "Haswell"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("fp32 \(KernelPath.fp32) kernels"), r.stdout)
        XCTAssertTrue(r.stdout.contains("OpenBLAS sgemm (Haswell, this process)"), r.stdout)
        let cpu = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        if cpu.contains(" avx512f ") && cpu.contains(" avx512bw ") && cpu.contains(" avx512vl ") && cpu.contains(" avx512dq ") {
            XCTAssertTrue(["(SkylakeX, forced)", "(Cooperlake, forced)"].contains { r.stdout.contains($0) }, r.stdout)
        }
        let avx2 = try CLI.run(args, environment: ["XLSWEEP_CPU": "avx2"])
        XCTAssertEqual(avx2.status, 0, avx2.stderr)
        XCTAssertTrue(avx2.stdout.contains("fp32 avx2 kernels"), avx2.stdout)
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
        XCTAssertEqual(r.stderr, "xlsweep: error: XLSWEEP_CPU='avx9' is not one of generic, avx2, avx512, avx512-bf16, amx-bf16\n")
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
