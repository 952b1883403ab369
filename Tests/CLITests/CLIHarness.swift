import Foundation
import XCTest

/// Runs the real `xlsweep` executable built beside the tests (or $XLSWEEP_BIN).
enum CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let fixtures = root + "/Tests/Fixtures"

    static var binary: String? {
        if let b = ProcessInfo.processInfo.environment["XLSWEEP_BIN"] { return b }
        let testBundle = Bundle.main.bundleURL.path  // …/.build/<triple>/debug
        return [testBundle + "/xlsweep", root + "/.build/debug/xlsweep"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        for name in unset { env[name] = nil }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let inPipe = Pipe()
        p.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
        try p.run()
        if let stdin {
            let data = Data(stdin.utf8)
            DispatchQueue.global().async {
                inPipe.fileHandleForWriting.write(data)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        // Read both pipes concurrently so a large output cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    static func scratch(_ test: XCTestCase) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// `python3 ARGS…` from PATH (the reference side of a test).
    static func python(_ arguments: [String], stdin: String? = nil) throws -> Result {
        try run(["python3"] + arguments, executable: "/usr/bin/env", stdin: stdin)
    }
}
