import Checkpoints
import Foundation
import Kernels
import Models
import Probing
import Store
import SweepCore
import Tokenization

extension FailureCode {
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

}

extension TaskFailure {
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
