import Foundation

/// All tensors of one checkpoint directory, whatever its file layout: `model.safetensors`,
/// sharded `model.safetensors.index.json`, `pytorch_model.bin`, or sharded
/// `pytorch_model.bin.index.json`. Tensors stay memory-mapped until a model converts them.
public final class WeightStore: @unchecked Sendable {
    public let directory: String
    /// The weight files read, relative to `directory`, for messages and provenance.
    public let files: [String]
    public let tensors: [String: TensorRecord]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        func exists(_ name: String) -> Bool { fm.fileExists(atPath: directory + "/" + name) }
        var files: [String]
        if exists("model.safetensors") {
            files = ["model.safetensors"]
        } else if exists("model.safetensors.index.json") {
            files = try Self.shards(index: directory + "/model.safetensors.index.json")
        } else if exists("pytorch_model.bin") {
            files = ["pytorch_model.bin"]
        } else if exists("pytorch_model.bin.index.json") {
            files = try Self.shards(index: directory + "/pytorch_model.bin.index.json")
        } else {
            throw CheckpointError.noWeights(directory: directory)
        }
        var tensors: [String: TensorRecord] = [:]
        for file in files {
            let path = directory + "/" + file
            guard fm.fileExists(atPath: path) else { throw CheckpointError.fileNotFound(path: path) }
            let part = file.hasSuffix(".safetensors") ? try Safetensors.read(path: path) : try TorchCheckpoint.read(path: path)
            tensors.merge(part) { first, _ in first }
        }
        self.files = files
        self.tensors = tensors
    }

    /// The weight files of the checkpoint in `directory` (what `init` reads), without reading them.
    public static func files(directory: String) throws -> [String] {
        let fm = FileManager.default
        func exists(_ name: String) -> Bool { fm.fileExists(atPath: directory + "/" + name) }
        if exists("model.safetensors") { return ["model.safetensors"] }
        if exists("model.safetensors.index.json") { return try shards(index: directory + "/model.safetensors.index.json") }
        if exists("pytorch_model.bin") { return ["pytorch_model.bin"] }
        if exists("pytorch_model.bin.index.json") { return try shards(index: directory + "/pytorch_model.bin.index.json") }
        throw CheckpointError.noWeights(directory: directory)
    }

    /// The distinct shard files named by an index's `weight_map`, in sorted order.
    public static func shards(index: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: index) else { throw CheckpointError.fileNotFound(path: index) }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw CheckpointError.badConfig(path: index, key: "weight_map", detail: "missing or not an object of file names")
        }
        for file in map.values where file.contains("..") || file.hasPrefix("/") {
            throw CheckpointError.badConfig(path: index, key: "weight_map", detail: "shard '\(file)' leaves the directory")
        }
        return Set(map.values).sorted()
    }

    /// The tensor stored under any of `names` (checkpoints differ in prefixes such as `transformer.`).
    public func record(_ names: [String]) throws -> TensorRecord {
        for n in names { if let t = tensors[n] { return t } }
        throw CheckpointError.missingTensor(path: location, tensor: names[0])
    }

    /// A tensor as fp32, checked against the shape the architecture needs.
    public func floats(_ names: [String], shape: [Int]) throws -> [Float] {
        let t = try record(names)
        guard t.shape == shape else {
            throw CheckpointError.shapeMismatch(path: t.file.path, tensor: t.name, expected: shape, found: t.shape)
        }
        return try t.floats()
    }

    /// Where the weights are, for messages: the single file, or the directory of the shards.
    public var location: String { files.count == 1 ? directory + "/" + files[0] : directory }

    /// The stored dtypes and their tensor counts, e.g. ["F16": 390].
    public var dtypes: [String: Int] {
        tensors.values.reduce(into: [:]) { $0[$1.dtype.rawValue, default: 0] += 1 }
    }
}
