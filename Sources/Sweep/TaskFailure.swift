import Checkpoints
import Foundation
import Kernels
import Models
import Probing
import Store
import Tokenization

/// Whose fault a failure is, which decides what the coordinator does about it: only `node` and
/// `resource` faults count against the node that ran the task (`NodeHealth`); an `input` fault
/// fails the same way wherever it runs, and a `bug` is xlsweep's.
public enum FailureCode: String, Sendable, CaseIterable, Codable {
    /// The task's inputs: a checkpoint, the data set or the config (a missing concept, a tokenizer
    /// that adds no start token, a corrupt upstream fragment). Any node would fail the same way.
    case input
    /// This node: it cannot start, cannot reach a file the others can, or its fragment never arrived.
    case node
    /// Memory, disk space or file handles ran out.
    case resource
    /// An error xlsweep did not expect (a defect to report).
    case bug

    public var countsAgainstNode: Bool { self == .node || self == .resource }

    /// The code of an error a task threw.
    public static func of(_ error: Error) -> FailureCode {
        if let e = error as? SweepError { return e.code }
        if let e = error as? HDF5Error { return resourceWords(e.detail) ? .resource : .node }
        if error is KernelPathError { return .node }
        if error is CheckpointError || error is ConfigError || error is TokenizerError || error is ProbingError
            || error is InterventionError || error is HookSiteError || error is ForwardError { return .input }
        let ns = error as NSError
        let exhausted: Set<Int32> = [ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE]
        for e in [ns, ns.userInfo[NSUnderlyingErrorKey] as? NSError].compactMap({ $0 }) where e.domain == NSPOSIXErrorDomain {
            return exhausted.contains(Int32(e.code)) ? .resource : .node
        }
        if ns.domain == NSCocoaErrorDomain {
            return resourceWords(String(describing: error)) || ns.code == CocoaError.fileWriteOutOfSpace.rawValue ? .resource : .node
        }
        return resourceWords(String(describing: error)) ? .resource : .bug
    }

    /// Whether a message says a resource ran out (the C libraries' strerror texts).
    static func resourceWords(_ text: String) -> Bool {
        ["No space left on device", "Disk quota exceeded", "Cannot allocate memory", "Too many open files", "disk full"]
            .contains { text.localizedCaseInsensitiveContains($0) }
    }

    /// A code as it arrives on the wire; absent or unknown (an older or forged worker): `node`,
    /// which counts against the node as every failure did before codes existed.
    public init(wire: String?) { self = wire.flatMap(FailureCode.init(rawValue:)) ?? .node }
}

/// A task's failure as the coordinator records it (`{task, code, message, host}` on the wire).
public struct TaskFailure: Sendable, Equatable, Codable {
    public let task: String
    public let code: FailureCode
    public let message: String
    public let host: String

    public init(task: String, code: FailureCode, host: String, message: String) {
        self.task = task
        self.code = code
        self.message = message
        self.host = host
    }

    /// `extract/step1/en [input] on node3: …`
    public var line: String { "\(task) [\(code.rawValue)] on \(host): \(message)" }

    /// The last failure of each failed task, one JSON file in the output directory, so that a later
    /// `merge` and `status` can still say whose fault each missing task was.
    public static func write(_ failures: [TaskFailure], directory: String) throws {
        let path = directory + "/failures.json"
        guard !failures.isEmpty else {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(failures.sorted { $0.task < $1.task }), to: path)
    }

    /// What `write` left in `directory`, by task (empty when none, or unreadable).
    public static func read(directory: String) -> [String: TaskFailure] {
        guard let data = FileManager.default.contents(atPath: directory + "/failures.json"),
              let list = try? JSONDecoder().decode([TaskFailure].self, from: data) else { return [:] }
        return Dictionary(list.map { ($0.task, $0) }, uniquingKeysWith: { $1 })
    }

    /// `input: 3, node: 1` (codes with no failure left out).
    public static func counts(_ failures: some Sequence<TaskFailure>) -> String {
        let byCode = Dictionary(grouping: failures, by: \.code)
        return FailureCode.allCases.compactMap { code in byCode[code].map { "\(code.rawValue): \($0.count)" } }.joined(separator: ", ")
    }
}

/// Writes a file whole or not at all: the bytes go to a temporary name beside it, are synced, and
/// the name is swapped in by rename(2), so a reader never sees half a file and a crash leaves the old one.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let staging = path + ".partial.\(getpid())"
        guard FileManager.default.createFile(atPath: staging, contents: data) else {
            throw SweepError("\(path): cannot write (\(String(cString: strerror(errno))))", code: .resource)
        }
        let fd = open(staging, O_RDONLY)
        if fd >= 0 { _ = fsync(fd); close(fd) }
        guard rename(staging, path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: staging)
            throw SweepError("\(path): cannot rename into place (\(why))", code: .node)
        }
    }
}
