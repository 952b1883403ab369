import Foundation
import XCTest

/// The test command's closing line (tools/test-summary.sh) against XCTest logs of every shape:
/// all passed, skipped tests, failures (counted as tests, not assertions), a crash with no summary.
final class TestSummaryTests: XCTestCase {
    func summary(_ log: String, _ arguments: [String] = []) throws -> (status: Int32, last: String) {
        let dir = try CLI.scratch(self)
        try log.write(toFile: dir + "/log", atomically: true, encoding: .utf8)
        let r = try CLI.run([CLI.root + "/tools/test-summary.sh", dir + "/log"] + arguments, executable: "/bin/bash")
        return (r.status, String(r.stdout.split(separator: "\n").last ?? ""))
    }

    func testCountsXCTestsFinalSummary() throws {
        let suite = """
            Test Case 'A.testA' passed (0.1 seconds)
            Test Case 'A.testB' failed (0.2 seconds)
            Test Case 'A.testC' skipped (0.0 seconds)
            Test Case 'B.testD' failed (0.2 seconds)
            Test Suite 'A' failed at 2026-12-01 21:54:43.022
            \t Executed 4 tests, with 1 test skipped and 7 failures (0 unexpected) in 0.3 (0.3) seconds
            Test Suite 'All tests' failed at 2026-12-01 21:54:43.022
            \t Executed 92 tests, with 1 test skipped and 7 failures (0 unexpected) in 91.3 (91.3) seconds

            """
        XCTAssertEqual(try summary(suite).last, "tests: 89 passed, 2 failed, 1 skipped")
        XCTAssertEqual(try summary(suite).status, 1)
        let green = "Test Suite 'All tests' passed at 2026\n\t Executed 92 tests, with 0 failures (0 unexpected) in 9.0 (9.0) seconds\n"
        XCTAssertEqual(try summary(green, ["--extra-passed", "1"]).last, "tests: 93 passed, 0 failed, 0 skipped")
        XCTAssertEqual(try summary(green).status, 0)
        XCTAssertEqual(try summary(green, ["--extra-skipped", "1"]).last, "tests: 92 passed, 0 failed, 1 skipped")
        XCTAssertEqual(try summary(green, ["--extra-failed", "1"]).status, 1)
        let skipped = "\t Executed 5 tests, with 2 tests skipped and 0 failures (0 unexpected) in 1.0 (1.0) seconds\n"
        XCTAssertEqual(try summary(skipped).last, "tests: 3 passed, 0 failed, 2 skipped")
        // A test process that died: no summary, a failure.
        let crash = try summary("Test Case 'A.testA' passed (0.1 seconds)\nFatal error: boom\n")
        XCTAssertEqual(crash.status, 1)
        XCTAssertEqual(crash.last, "tests: 0 passed, 1 failed, 0 skipped")
        // A non-zero exit after a clean summary is not hidden.
        let teardown = try summary(green, ["--xctest-status", "134"])
        XCTAssertEqual(teardown.status, 1)
        XCTAssertEqual(teardown.last, "tests: 92 passed, 1 failed, 0 skipped")
    }
}
