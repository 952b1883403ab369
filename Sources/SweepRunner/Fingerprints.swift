import Checkpoints
import Digests
import Foundation
import Kernels
import Store
import SweepCore

/// Computes a sweep's fingerprints (SweepFingerprints) from the files on disk. Checkpoint files
/// are hashed once: a cache beside the fragments (`fingerprints.json`) keeps each file's SHA-256
/// under its path, size, inode and modification and change times, so a rerun or a worker reads
/// the bytes again only when a file changed.
public enum Fingerprinter {
    public static func compute(config: SweepConfig, data: DataSet, directories: [String: String],
                               tokenizers: [String: String]) throws -> SweepFingerprints {
        var cache = DigestCache(path: config.output + "/fingerprints.json")
        var checkpoints: [String: CheckpointFingerprint] = [:]
        for c in config.checkpoints {
            guard let dir = directories[c.name] else { continue }
            let weights = try WeightStore(directory: dir)   // reads and checks every header
            let tokenizer = tokenizers[c.name] ?? dir + "/tokenizer.json"
            guard FileManager.default.fileExists(atPath: tokenizer) else {
                throw ConfigError(file: config.file, line: nil, key: "checkpoints",
                                  message: "checkpoint '\(c.name)': \(tokenizer): no such file (a sweep needs each checkpoint's tokenizer)")
            }
            var h = SHA256()
            for name in ["config.json"] + weights.files {
                h.update(Array("\(name) \(try cache.digest(ofFile: dir + "/" + name))\n".utf8))
            }
            checkpoints[c.name] = CheckpointFingerprint(files: "sha256:" + h.hexDigest(),
                                                        tokenizer: "sha256:" + (try cache.digest(ofFile: tokenizer)))
        }
        cache.save()
        return SweepFingerprints(data: data.languageFingerprints, lexicon: data.lexiconFingerprint, checkpoints: checkpoints)
    }
}
