/// PyTorch zip checkpoints (`torch.save` ≥ 1.6): `<root>/data.pkl` holds the state dict as a
/// pickle whose tensors point, by persistent id, to raw storages at `<root>/data/<key>`.
public enum TorchCheckpoint {
    public static func read(path: String) throws -> [String: TensorRecord] {
        let file = try MappedFile(path: path)
        let zip = try ZipArchive(file: file)
        guard let pickle = zip.entries.values.first(where: { $0.name.hasSuffix("data.pkl") }) else {
            throw CheckpointError.corrupt(path: path, detail: "no data.pkl in the archive")
        }
        let root = String(pickle.name.dropLast("data.pkl".count))
        if let order = zip.entries[root + "byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(start: file.bytes + order.dataOffset, count: order.size),
                              as: UTF8.self)
            guard text == "little" else {
                throw CheckpointError.corrupt(path: path, detail: "byte order '\(text)' (only little-endian is supported)")
            }
        }
        var unpickler = RestrictedUnpickler(
            path: path, bytes: UnsafeRawBufferPointer(start: file.bytes + pickle.dataOffset, count: pickle.size))
        let value = try unpickler.run()
        guard case .dict(let items) = value else {
            throw CheckpointError.corrupt(path: path, detail: "the pickle is not a state dict (name → tensor)")
        }
        var tensors: [String: TensorRecord] = [:]
        for (key, item) in items {
            guard case .string(let name) = key else { continue }
            guard case .tensor(let t) = item else { continue }
            guard let storage = zip.entries[root + "data/" + t.storageKey] else {
                throw CheckpointError.missingTensor(path: path, tensor: "\(name) (storage data/\(t.storageKey))")
            }
            if let problem = t.problem { throw CheckpointError.corrupt(path: path, detail: "tensor '\(name)': \(problem)") }
            guard storage.size >= t.storageCount * t.dtype.size else {
                throw CheckpointError.truncated(path: path, detail:
                    "storage data/\(t.storageKey) of '\(name)' has \(storage.size) bytes, needs \(t.storageCount * t.dtype.size)")
            }
            tensors[name] = TensorRecord(name: name, dtype: t.dtype, shape: t.shape, file: file,
                                         byteOffset: storage.dataOffset + t.offset * t.dtype.size)
        }
        return tensors
    }
}
