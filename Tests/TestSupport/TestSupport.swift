import Foundation
import XCTest

/// What the test suites share: where the repository and its fixtures are, scratch directories
/// removed after each test, the tiny fixture sweep's config, and running a process (`xlsweep`,
/// `python3` for the references) with its exit status and both outputs.
public enum TestSupport {
    /// The repository's root directory.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// Tests/Fixtures: the tiny random-weight checkpoints with their transformers references, the sweep data set.
    public static let fixtures = root + "/Tests/Fixtures"

    /// A new empty directory, removed when `test` ends.
    public static func scratch(_ test: XCTestCase, prefix: String = "xlsweep") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Writes the tiny sweep's config — 3 BLOOM-tiny checkpoints of one shape (fp32, fp16 and bf16
    /// files) × 4 languages over Tests/Fixtures/sweep-data — to `dir/file`, and returns its path.
    public static func tinySweep(in dir: String, file: String = "sweep.yaml", output: String = "out", samples: Int = 3,
                                 lease: Int = 30, controls: Int = 3, extra: String = "",
                                 checkpoints: [(name: String, fixture: String)] = [("step1", "bloom-tiny"), ("step2", "bloom-tiny-fp16"),
                                                                                  ("step3", "bloom-tiny-bf16")]) throws -> String {
        let text = """
            name: tiny
            output: \(output)
            workers: 2
            lease_seconds: \(lease)
            data: \(fixtures)/sweep-data
            languages: [en, es, fr, de]
            checkpoints:
            \(checkpoints.map { "  - {name: \($0.name), path: \(fixtures)/\($0.fixture)}" }.joined(separator: "\n"))
            probe: {tokens_per_language: 40, seeds: 2}
            expertise: {k: 20, min_positives: 3}
            alignment: {permutations: 3}
            generation: {samples: \(samples), new_tokens: 6, controls: \(controls)}
            \(extra)
            """
        let path = dir + "/" + file
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public struct ProcessResult: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Runs `executable ARGUMENTS…` in the repository root (environment merged, `unset` removed,
    /// `stdin` written), reading both outputs concurrently so a large one cannot block the child.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], unset: [String] = [],
                           stdin: String? = nil) throws -> ProcessResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
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
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `python3 ARGS…` from PATH (the reference side of a test).
    public static func python(_ arguments: [String], stdin: String? = nil) throws -> ProcessResult {
        try run("/usr/bin/env", ["python3"] + arguments, stdin: stdin)
    }
}
