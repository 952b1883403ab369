import Digests
import Foundation

/// Digests remembered under the stamps of the files they were computed from (size, inode,
/// modification and change time: any write changes the change time), kept in one JSON file:
/// a file is read again only when it changed. Writes are atomic (a renamed staging file); a cache
/// that cannot be read or written only costs a recomputation.
public struct DigestCache {
    public let path: String
    var entries: [String: [String: String]]
    var changed = false

    public init(path: String) {
        self.path = path
        if let data = FileManager.default.contents(atPath: path),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String: String]] {
            entries = json
        } else {
            entries = [:]
        }
    }

    /// `$XDG_CACHE_HOME/xlsweep/NAME`, or `~/.cache/xlsweep/NAME`.
    public static func user(_ name: String) -> DigestCache {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return DigestCache(path: base + "/xlsweep/" + name)
    }

    public static func stamp(_ file: String) throws -> String {
        var st = stat()
        guard stat(file, &st) == 0 else { throw CheckpointError.fileNotFound(path: file) }
        return "\(st.st_size) \(st.st_ino) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
    }

    /// The digest remembered under `key` if `files` still have the stamps it was made with;
    /// otherwise `compute()`, remembered.
    public mutating func digest(_ key: String, files: [String], compute: () throws -> String) throws -> String {
        let stamp = try files.map(Self.stamp).joined(separator: " | ")
        if let e = entries[key], e["stamp"] == stamp, let d = e["sha256"] { return d }
        let d = try compute()
        entries[key] = ["stamp": stamp, "sha256": d]
        changed = true
        return d
    }

    /// SHA-256 (hex) of one file's bytes, remembered under its absolute path.
    public mutating func digest(ofFile file: String) throws -> String {
        try digest(URL(fileURLWithPath: file).standardizedFileURL.path, files: [file]) {
            guard let d = SHA256.hexDigest(ofFile: file) else { throw CheckpointError.fileNotFound(path: file) }
            return d
        }
    }

    /// Hashes, several at a time (one per core), the files among `files` whose digest is not
    /// remembered under their current stamps (all of them with `rehash`), and remembers each: the
    /// `digest(ofFile:)` calls that follow find them. A file that cannot be read is left to those
    /// calls, which say so.
    public mutating func hashAhead(_ files: [String], rehash: Bool = false) {
        // Each stamp is taken before the file is read: a file written while it is hashed gets a new
        // change time, so what is remembered here is never taken for the new bytes.
        var work: [(file: String, stamp: String)] = []
        for file in Set(files).sorted() {
            guard let stamp = try? Self.stamp(file) else { continue }
            let key = URL(fileURLWithPath: file).standardizedFileURL.path
            if rehash || entries[key]?["stamp"] != stamp || entries[key]?["sha256"] == nil { work.append((file, stamp)) }
        }
        guard !work.isEmpty else { return }
        final class Results: @unchecked Sendable {
            var digests: [String?]
            let lock = NSLock()
            init(_ n: Int) { digests = Array(repeating: nil, count: n) }
        }
        let results = Results(work.count)
        let paths = work.map(\.file)
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let d = SHA256.hexDigest(ofFile: paths[i])
            results.lock.lock()
            results.digests[i] = d
            results.lock.unlock()
        }
        for (i, (file, stamp)) in work.enumerated() {
            let key = URL(fileURLWithPath: file).standardizedFileURL.path
            guard let d = results.digests[i], (try? Self.stamp(file)) == stamp else {
                // Not remembered: `digest(ofFile:)` reads the file itself (and says why it cannot).
                if entries.removeValue(forKey: key) != nil { changed = true }
                continue
            }
            entries[key] = ["stamp": stamp, "sha256": d]
            changed = true
        }
    }

    /// Remembers `digest` as the SHA-256 of `file` as it is now (a digest just computed by other means).
    public mutating func remember(_ file: String, digest: String) {
        guard let stamp = try? Self.stamp(file) else { return }
        entries[URL(fileURLWithPath: file).standardizedFileURL.path] = ["stamp": stamp, "sha256": digest]
        changed = true
    }

    public func save() {
        guard changed else { return }
        // Entries other processes saved meanwhile are kept; this process's win where both have one.
        var merged = DigestCache(path: path).entries
        merged.merge(entries) { _, mine in mine }
        guard let data = try? JSONSerialization.data(withJSONObject: merged, options: [.sortedKeys]) else { return }
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let staging = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: staging, contents: data) else { return }
        if rename(staging, path) != 0 { unlink(staging) }
    }
}
