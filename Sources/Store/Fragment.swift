import Foundation
import Kernels

/// A task's results as one HDF5 file, made durable in order: write under a temporary name, flush
/// and fsync, checksum, rename into place, then write the checksum file (`.sha256`) the same way.
/// A task is done only when both exist and agree, so a crash at any point leaves either nothing
/// or a complete, verifiable fragment — and a late second copy simply replaces the first.
public enum Fragment {
    public static func fileName(task id: String) -> String { id.replacingOccurrences(of: "/", with: "__") + ".h5" }
    public static func taskID(fileName: String) -> String? {
        guard fileName.hasSuffix(".h5") else { return nil }
        return String(fileName.dropLast(3)).replacingOccurrences(of: "__", with: "/")
    }

    /// Writes the fragment of `task` into `directory` through `body`, durably.
    public static func write(task id: String, directory: String, _ body: (HDF5Writer) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = directory + "/" + fileName(task: id)
        let staging = final + ".partial-\(getpid())"
        let writer = try HDF5Writer(creating: staging)
        try writer.setAttribute("task", id)
        try body(writer)
        try writer.close()   // flushed, closed, renamed from its own temporary name to `staging`
        try fsyncFile(staging)
        let digest = try sha256(ofFile: staging)
        guard rename(staging, final) == 0 else {
            throw HDF5Error(path: final, detail: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        let sumStaging = final + ".sha256.partial-\(getpid())"
        guard FileManager.default.createFile(atPath: sumStaging, contents: Data((digest + "\n").utf8)) else {
            throw HDF5Error(path: sumStaging, detail: "cannot write checksum (disk full?)")
        }
        try fsyncFile(sumStaging)
        guard rename(sumStaging, final + ".sha256") == 0 else {
            throw HDF5Error(path: final + ".sha256", detail: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        try fsyncFile(directory)
    }

    /// Whether the fragment at `path` is complete: its checksum file exists and matches its bytes.
    public static func verify(_ path: String) -> Bool {
        guard let recorded = try? String(contentsOfFile: path + ".sha256", encoding: .utf8),
              let actual = try? sha256(ofFile: path) else { return false }
        return recorded.trimmingCharacters(in: .whitespacesAndNewlines) == actual
    }

    static func fsyncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw HDF5Error(path: path, detail: "cannot open to sync") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw HDF5Error(path: path, detail: "fsync failed: \(String(cString: strerror(errno)))") }
    }

    /// Hex SHA-256 of a file's bytes, read in 1 MiB blocks.
    public static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw HDF5Error(path: path, detail: "cannot read") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.hexDigest()
    }
}

/// The ledger of a sweep: which tasks have a complete fragment on disk. Rebuilt from the files
/// alone, so a restarted coordinator resumes without redoing finished work; broken or partial
/// fragments are listed so their tasks run again.
public struct Ledger: Sendable {
    public let done: Set<String>
    /// Fragments present but failing verification (truncated, corrupt, or without checksum).
    public let broken: [String]

    public init(directory: String) {
        var done = Set<String>(), broken: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() {
            guard let id = Fragment.taskID(fileName: name) else { continue }
            if Fragment.verify(directory + "/" + name) { done.insert(id) } else { broken.append(id) }
        }
        self.done = done
        self.broken = broken
    }
}
