import Checkpoints
import Foundation
import Kernels
import Store

/// Computes a sweep's fingerprints (SweepFingerprints) from the files on disk. Checkpoint files
/// are hashed once: a cache beside the fragments (`fingerprints.json`) keeps each file's SHA-256
/// under its path, size, inode and modification and change times, so a rerun or a worker reads
/// the bytes again only when a file changed.
public enum Fingerprinter {
    public static func compute(config: SweepConfig, data: DataSet, directories: [String: String]) throws -> SweepFingerprints {
        var cache = FileDigestCache(path: config.output + "/fingerprints.json")
        var checkpoints: [String: CheckpointFingerprint] = [:]
        for c in config.checkpoints {
            guard let dir = directories[c.name] else { continue }
            let weights = try WeightStore(directory: dir)   // reads and checks every header
            let tokenizer = dir + "/tokenizer.json"
            guard FileManager.default.fileExists(atPath: tokenizer) else {
                throw ConfigError(file: config.file, line: nil, key: "checkpoints",
                                  message: "checkpoint '\(c.name)': \(tokenizer): no such file (a sweep needs each checkpoint's tokenizer)")
            }
            var h = SHA256()
            for name in ["config.json"] + weights.files {
                h.update(Array("\(name) \(try cache.digest(of: dir + "/" + name))\n".utf8))
            }
            checkpoints[c.name] = CheckpointFingerprint(files: "sha256:" + h.hexDigest(),
                                                        tokenizer: "sha256:" + (try cache.digest(of: tokenizer)))
        }
        cache.save()
        return SweepFingerprints(data: data.languageFingerprints, lexicon: data.lexiconFingerprint, checkpoints: checkpoints)
    }
}

/// SHA-256 of files, remembered under (size, inode, mtime, ctime): any write changes ctime.
struct FileDigestCache {
    let path: String
    var entries: [String: [String: String]]
    var changed = false

    init(path: String) {
        self.path = path
        if let data = FileManager.default.contents(atPath: path),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String: String]] {
            entries = json
        } else {
            entries = [:]
        }
    }

    static func stamp(_ file: String) throws -> String {
        var st = stat()
        guard stat(file, &st) == 0 else { throw CheckpointError.fileNotFound(path: file) }
        return "\(st.st_size) \(st.st_ino) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
    }

    mutating func digest(of file: String) throws -> String {
        let key = URL(fileURLWithPath: file).standardizedFileURL.path
        let stamp = try Self.stamp(file)
        if let e = entries[key], e["stamp"] == stamp, let d = e["sha256"] { return d }
        let d = try Fragment.sha256(ofFile: file)
        entries[key] = ["stamp": stamp, "sha256": d]
        changed = true
        return d
    }

    /// Best effort: a cache that cannot be written only costs a rehash next time.
    func save() {
        guard changed, let data = try? JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys]) else { return }
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let staging = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: staging, contents: data) else { return }
        if rename(staging, path) != 0 { unlink(staging) }
    }
}
