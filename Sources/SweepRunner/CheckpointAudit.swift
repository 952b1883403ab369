import Checkpoints
import Digests
import Foundation
import Kernels
import SweepCore

/// A checkpoint's files proven sound before any compute, so that a shard that did not finish
/// downloading, a branch with a missing file or a corrupted blob stops the sweep before a task is
/// leased, instead of (at best) failing mid-sweep:
/// - structure (cheap, always): every file an index (`model.safetensors.index.json`,
///   `pytorch_model.bin.index.json`) names exists, and every weight file's header reads and fits
///   in the file (a truncated file is named);
/// - blobs: in a Hugging Face cache each weight file is a link to `blobs/<SHA-256 of its bytes>`,
///   so its digest must equal its blob's name. The digest is the one the sweep's fingerprint
///   computes anyway (remembered under the file's stamps in `fingerprints.json`, so it costs one
///   read per file ever); `rehash` (`--verify`) reads every weight file again, ignoring what is
///   remembered, and also catches bytes that changed under an unchanged stamp.
public enum CheckpointAudit {
    public struct Fault: Sendable, Equatable, CustomStringConvertible {
        public let checkpoint: String
        public let file: String
        public let problem: String
        public var description: String { "checkpoint '\(checkpoint)': \(file): \(problem)" }
    }

    /// Every fault of `checkpoints` (name, directory), structural and blob, and the groups of sound
    /// checkpoints whose weight files are byte-identical (a duplicated step), in config order.
    public static func audit(_ checkpoints: [(name: String, directory: String)], cache: inout DigestCache,
                             rehash: Bool) -> (faults: [Fault], duplicates: [[String]]) {
        var faults: [Fault] = [], sound: [(name: String, key: String)] = []
        // Every weight file hashed up front, one per core (a new series' files are read once ever).
        var files: [String] = []
        for (_, directory) in checkpoints {
            files += blobFiles(directory: directory).map(\.file)
            files += ((try? WeightStore.files(directory: directory)) ?? []).map { directory + "/" + $0 }
        }
        cache.hashAhead(files.filter { FileManager.default.fileExists(atPath: $0) }, rehash: rehash)
        for (name, directory) in checkpoints {
            let structural = structure(checkpoint: name, directory: directory)
            faults += structural
            guard structural.isEmpty else { continue }
            let blob = blobs(checkpoint: name, directory: directory, cache: &cache, rehash: rehash, hashedAhead: true)
            faults += blob
            guard blob.isEmpty, let files = try? WeightStore.files(directory: directory) else { continue }
            let digests = files.map { file in (try? cache.digest(ofFile: directory + "/" + file)).map { "\(file) \($0)" } ?? UUID().uuidString }
            sound.append((name, digests.joined(separator: "\n")))
        }
        let groups = Dictionary(grouping: sound, by: \.key).values.filter { $0.count > 1 }.map { $0.map(\.name) }
        let order = Dictionary(uniqueKeysWithValues: checkpoints.enumerated().map { ($1.name, $0) })
        return (faults, groups.map { $0.sorted { order[$0]! < order[$1]! } }.sorted { order[$0[0]]! < order[$1[0]]! })
    }

    /// The structural faults of the checkpoint in `directory` (empty when sound).
    public static func structure(checkpoint: String, directory: String) -> [Fault] {
        let fm = FileManager.default
        func fault(_ file: String, _ problem: String) -> Fault { Fault(checkpoint: checkpoint, file: file, problem: problem) }
        var files: [String] = []
        var faults: [Fault] = []
        if fm.fileExists(atPath: directory + "/model.safetensors") {
            files = ["model.safetensors"]
        } else if fm.fileExists(atPath: directory + "/pytorch_model.bin") {
            files = ["pytorch_model.bin"]
        }
        for index in ["model.safetensors.index.json", "pytorch_model.bin.index.json"] where files.isEmpty {
            let path = directory + "/" + index
            guard fm.fileExists(atPath: path) else { continue }
            do {
                files = try WeightStore.shards(index: path)
            } catch {
                return [fault(path, "\(error)")]
            }
            for shard in files where !fm.fileExists(atPath: directory + "/" + shard) {
                faults.append(fault(directory + "/" + shard, "missing: named by \(index) but not on disk (an incomplete download?)"))
            }
        }
        guard !files.isEmpty else { return [fault(directory, "\(CheckpointError.noWeights(directory: directory))")] }
        for file in files where fm.fileExists(atPath: directory + "/" + file) {
            let path = directory + "/" + file
            do {
                _ = file.hasSuffix(".safetensors") ? try Safetensors.read(path: path) : try TorchCheckpoint.read(path: path)
            } catch let e as CheckpointError {
                faults.append(fault(path, problem(e)))
            } catch {
                faults.append(fault(path, "\(error)"))
            }
        }
        return faults
    }

    /// The weight files of the checkpoint in `directory` that are links into a Hugging Face
    /// cache's `blobs/`, with the SHA-256 their blob's name states.
    public static func blobFiles(directory: String) -> [(file: String, expected: String)] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().compactMap { name in
            guard name.hasSuffix(".safetensors") || name.hasSuffix(".bin") || name.hasSuffix(".pt") || name.hasSuffix(".pth") else { return nil }
            let path = directory + "/" + name
            guard let target = try? fm.destinationOfSymbolicLink(atPath: path) else { return nil }
            let blob = URL(fileURLWithPath: target, relativeTo: URL(fileURLWithPath: directory + "/")).standardizedFileURL
            let digest = blob.lastPathComponent
            guard blob.deletingLastPathComponent().lastPathComponent == "blobs", digest.count == 64,
                  digest.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
            return (path, digest)
        }
    }

    /// Blob faults: a weight file whose bytes do not hash to its blob's name. `cache` remembers
    /// each digest under the file's stamps; with `rehash` every file is read again.
    public static func blobs(checkpoint: String, directory: String, cache: inout DigestCache, rehash: Bool,
                             hashedAhead: Bool = false) -> [Fault] {
        blobFiles(directory: directory).compactMap { file, expected in
            guard FileManager.default.fileExists(atPath: file) else {
                return Fault(checkpoint: checkpoint, file: file, problem: "its blob \(expected.prefix(12))… is missing (a broken link)")
            }
            // With `rehash`, `audit` has just read every file again (`hashAhead`); called alone, read it here.
            let actual: String?
            if rehash && !hashedAhead {
                actual = SHA256.hexDigest(ofFile: file)
                if let actual { cache.remember(file, digest: actual) }
            } else {
                actual = try? cache.digest(ofFile: file)
            }
            guard let actual else { return Fault(checkpoint: checkpoint, file: file, problem: "cannot be read") }
            guard actual == expected else {
                return Fault(checkpoint: checkpoint, file: file, problem: "its bytes hash to \(actual.prefix(12))…, not to its blob's name "
                    + "\(expected.prefix(12))… (corrupted or partly downloaded: delete the blob and download it again)")
            }
            return nil
        }
    }

    /// A checkpoint error as a problem of the file it names (the path is the fault's own).
    static func problem(_ e: CheckpointError) -> String {
        switch e {
        case .truncated(_, let detail): return "truncated: \(detail)"
        case .corrupt(_, let detail): return "corrupt: \(detail)"
        default: return "\(e)"
        }
    }

    /// Groups of checkpoints whose weights are byte-identical (the same files fingerprint), each
    /// group in config order; one line each for `plan` (a duplicated step is one point, not two).
    public static func duplicates(_ sweep: ResolvedSweep) -> [[String]] {
        let names = sweep.config.checkpoints.map(\.name)
        let groups = Dictionary(grouping: names) { sweep.fingerprints.checkpoints[$0]?.files ?? $0 }
        return groups.values.filter { $0.count > 1 }.map { g in names.filter(g.contains) }.sorted { $0[0] < $1[0] }
    }
}
