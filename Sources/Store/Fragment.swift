import Digests
import Foundation

/// A task's results as one HDF5 file, made durable in order: write under a temporary name, flush
/// and fsync, checksum, rename into place, then write the checksum file (`.sha256`) the same way.
/// A task is done only when both exist and agree, so a crash at any point leaves either nothing
/// or a complete, verifiable fragment — and a late second copy simply replaces the first.
public enum Fragment {
    /// The one mapping between a task id (components joined by `/`) and its fragment's file name:
    /// components joined by `+`, each byte outside `A-Z a-z 0-9 . _ -` written as `%XX`. Injective,
    /// so any checkpoint or concept name (`__`, `+`, `%`, spaces, non-ASCII) round-trips.
    public static func fileName(task id: String) -> String {
        id.split(separator: "/", omittingEmptySubsequences: false).map { component in
            component.utf8.map { b -> String in
                let safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
                return safe ? String(UnicodeScalar(b)) : String(format: "%%%02X", b)
            }.joined()
        }.joined(separator: "+") + ".h5"
    }

    /// The task id of a fragment file name, or nil when the name is not one `fileName` makes.
    public static func taskID(fileName: String) -> String? {
        guard fileName.hasSuffix(".h5") else { return nil }
        // Most names hold only characters written as themselves: the id is the name with `/` for `+`.
        let stem = fileName.utf8.dropLast(3)
        if stem.allSatisfy({ b in (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                                || b == 0x2E || b == 0x5F || b == 0x2D || b == 0x2B }) {
            return String(decoding: stem.map { $0 == 0x2B ? 0x2F : $0 }, as: UTF8.self)
        }
        var components: [String] = []
        for part in fileName.dropLast(3).split(separator: "+", omittingEmptySubsequences: false) {
            var bytes: [UInt8] = []
            var i = part.utf8.startIndex
            let u = part.utf8
            while i < u.endIndex {
                let b = u[i]
                if b == 0x25 {
                    let hex = u.index(i, offsetBy: 1, limitedBy: u.endIndex).flatMap { a in
                        u.index(a, offsetBy: 2, limitedBy: u.endIndex).map { (a, $0) } }
                    guard let (a, e) = hex, let v = UInt8(String(decoding: u[a..<e], as: UTF8.self), radix: 16) else { return nil }
                    bytes.append(v)
                    i = e
                } else {
                    bytes.append(b)
                    i = u.index(after: i)
                }
            }
            guard let s = String(bytes: bytes, encoding: .utf8) else { return nil }
            components.append(s)
        }
        let id = components.joined(separator: "/")
        return Self.fileName(task: id) == fileName ? id : nil
    }

    /// Writes the fragment of `task` into `directory` through `body`, durably, with string
    /// attributes on its root (what it was made from), and those `after` gives once `body` has
    /// written its datasets (how long the task took, its memory: the writing counted in).
    public static func write(task id: String, directory: String, attributes: [String: String] = [:],
                             after: () -> [String: String] = { [:] }, _ body: (HDF5Writer) throws -> Void) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = directory + "/" + fileName(task: id)
        let staging = final + ".partial-\(getpid())"
        let writer = try HDF5Writer(creating: staging)
        writer.deflateLevel = 0
        try writer.setAttribute("task", id)
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try writer.setAttribute(key, value) }
        try body(writer)
        for (key, value) in after().sorted(by: { $0.key < $1.key }) { try writer.setAttribute(key, value) }
        try writer.setAttribute("content_digest", writer.contentDigest)
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
        guard let digest = SHA256.hexDigest(ofFile: path) else { throw HDF5Error(path: path, detail: "cannot read") }
        return digest
    }
}
