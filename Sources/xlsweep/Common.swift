import ArgumentParser
import Checkpoints
import Foundation
import Kernels
import Models
import Tokenization

/// `--model` and `--revision`, shared by every command that loads a checkpoint.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint directory, or a Hugging Face repo id found in the local cache ($HF_HOME/hub).")
    var model: String

    @Option(help: "Revision of a Hugging Face repo id (branch, tag or commit), e.g. global_step1000.")
    var revision: String?

    @Option(help: "The tokenizer, when not beside the weights: a tokenizer.json, its directory, or a cached repo id (REPO or REPO@REVISION), e.g. bigscience/bloom-560m for BLOOM's intermediate branches.")
    var tokenizer: String?

    /// Where `--tokenizer` points: a path when one exists there, else a cached repo.
    func tokenizerPath() throws -> String? {
        guard let tokenizer else { return nil }
        if FileManager.default.fileExists(atPath: tokenizer) { return try TokenizerSource.path(tokenizer).resolve() }
        let parts = tokenizer.split(separator: "@", maxSplits: 1).map(String.init)
        return try TokenizerSource.repo(parts[0], revision: parts.count > 1 ? parts[1] : nil).resolve()
    }

    /// Loads the checkpoint in `precision`'s dtype (`logPrecision` says which and why).
    func load(tokenizer loadTokenizer: Bool = true, precision: PrecisionOptions, hashEarly: Bool = true) throws -> LoadedModel {
        try LoadedModel.load(model, revision: revision, tokenizer: loadTokenizer, tokenizerPath: try tokenizerPath(),
                             dtype: precision.dtype, hashEarly: hashEarly)
    }

    /// The tokenizer alone: no weights are read.
    func tokenizerOnly() throws -> Tokenizer {
        if let path = try tokenizerPath() { return try Tokenizer(path: path) }
        let directory = try ModelLocator.resolve(model, revision: revision)
        let path = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: path) else { throw UserError("\(directory): no tokenizer.json (give --tokenizer)") }
        return try Tokenizer(path: path)
    }

    func tokenizer(of loaded: LoadedModel) throws -> Tokenizer {
        guard let t = loaded.tokenizer else { throw UserError("\(loaded.directory): no tokenizer.json (give --tokenizer)") }
        return t
    }
}

/// `--dtype`, for the commands that run the model.
struct PrecisionOptions: ParsableArguments {
    @Option(help: "Precision of the weight matrices: fp32, bf16 (kept as stored, bf16 × bf16 → fp32 products), or auto (fp32 when it fits in 80% of available memory).")
    var dtype: DTypeChoice = .auto
}

/// The log line (stderr) naming the precision a command runs in and why; written once the
/// arguments are checked, just before the model runs, so an error stays the only line.
func logPrecision(_ loaded: LoadedModel) {
    FileHandle.standardError.write(Data("xlsweep: \(loaded.precisionNote)\n".utf8))
}

/// `--input`: plain text (one sequence per line) or JSON lines with a `text` field.
struct InputOptions: ParsableArguments {
    @Option(help: "Text file, one sequence per line; a .jsonl file holds one {\"text\": …} object per line. '-' reads stdin.")
    var input: String

    func texts() throws -> [String] {
        let data: Data
        if input == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let handle = FileHandle(forReadingAtPath: input) else { throw UserError("\(input): cannot read file") }
            defer { try? handle.close() }
            data = handle.readDataToEndOfFile()
        }
        guard let text = String(data: data, encoding: .utf8) else { throw UserError("\(input): not UTF-8 text") }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        if input.hasSuffix(".jsonl") {
            return try lines.enumerated().compactMap { n, line in
                if line.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw UserError("\(input):\(n + 1): not a JSON object")
                }
                guard let t = object["text"] as? String else { throw UserError("\(input):\(n + 1): no string field \"text\"") }
                return t
            }
        }
        return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
    }
}

/// An error in what the user asked for; printed as one line, exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Buffered standard output.
struct Output {
    var buffer = ""

    mutating func line(_ s: String) {
        buffer += s
        buffer += "\n"
        if buffer.utf8.count > 1 << 20 { flush() }
    }

    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer.utf8))
        buffer = ""
    }
}

enum JSON {
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func ints(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }

    /// Shortest round-trip decimal of each float; non-finite values become null.
    static func floats(_ values: ArraySlice<Float>) -> String {
        "[" + values.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]"
    }
}

/// The repository's tools/ folder, for reference runs (XLSWEEP_ROOT, the working directory, or
/// an ancestor of the executable).
func toolsDirectory() -> String? {
    var candidates: [String] = []
    if let root = ProcessInfo.processInfo.environment["XLSWEEP_ROOT"] { candidates.append(root) }
    candidates.append(FileManager.default.currentDirectoryPath)
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<5 {
        url.deleteLastPathComponent()
        candidates.append(url.path)
    }
    return candidates.map { $0 + "/tools" }.first { FileManager.default.fileExists(atPath: $0 + "/make_fixtures.py") }
}

/// Runs `python3 tools/SCRIPT ARGS…` and parses the JSON object it prints: the reference side of
/// a benchmark. The error says why when Python or the package is missing.
func runReference(_ script: String, _ arguments: [String], missing: String) -> Result<[String: Any], UserError> {
    guard let tools = toolsDirectory() else { return .failure(UserError("tools/ not found (set XLSWEEP_ROOT)")) }
    let process = Process()
    let out = Pipe(), err = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", tools + "/" + script] + arguments
    process.standardOutput = out
    process.standardError = err
    do { try process.run() } catch { return .failure(UserError("python3 not runnable: \(error)")) }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errorText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        let last = errorText.split(separator: "\n").last.map(String.init) ?? "exit \(process.terminationStatus)"
        return .failure(UserError(last.contains("No module named") ? "\(missing) not installed (\(last))" : last))
    }
    return .success(json)
}

extension DTypeChoice: ExpressibleByArgument {}
