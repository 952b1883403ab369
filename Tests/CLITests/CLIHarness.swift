import Foundation
import TestSupport
import XCTest

/// Runs the real `xlsweep` executable built beside the tests (or $XLSWEEP_BIN).
enum CLI {
    static let root = TestSupport.root
    static let fixtures = TestSupport.fixtures

    static var binary: String? {
        if let b = ProcessInfo.processInfo.environment["XLSWEEP_BIN"] { return b }
        let testBundle = Bundle.main.bundleURL.path  // …/.build/<triple>/debug
        return [testBundle + "/xlsweep", root + "/.build/debug/xlsweep"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    typealias Result = TestSupport.ProcessResult

    static func run(_ arguments: [String], environment: [String: String] = [:], unset: [String] = [], executable: String? = nil,
                    stdin: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let exe: String
        if let executable { exe = executable } else {
            guard let b = binary else {
                XCTFail("xlsweep executable not found: run `swift build` first or set XLSWEEP_BIN", file: file, line: line)
                throw CocoaError(.fileNoSuchFile)
            }
            exe = b
        }
        return try TestSupport.run(exe, arguments, environment: environment, unset: unset, stdin: stdin)
    }

    static func scratch(_ test: XCTestCase) throws -> String { try TestSupport.scratch(test, prefix: "xlsweep-cli") }

    /// `python3 ARGS…` from PATH (the reference side of a test).
    static func python(_ arguments: [String], stdin: String? = nil) throws -> Result { try TestSupport.python(arguments, stdin: stdin) }
}
