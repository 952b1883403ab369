import Foundation

/// Reader for Hugging Face safetensors: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the data (offsets relative to it).
/// Spec: https://github.com/huggingface/safetensors (README, "Format").
public enum Safetensors {
    public static func read(path: String) throws -> [String: TensorRecord] {
        let file = try MappedFile(path: path)
        let headerLength = Int(try file.read(UInt64.self, at: 0, what: "header length"))
        guard headerLength > 1, headerLength <= 100_000_000 else {
            throw CheckpointError.corrupt(path: path, detail: "implausible header length \(headerLength)")
        }
        guard 8 + headerLength <= file.size else {
            throw CheckpointError.truncated(path: path, detail: "header of \(headerLength) bytes, file has \(file.size)")
        }
        let header = Data(bytes: file.bytes + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw CheckpointError.corrupt(path: path, detail: "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: TensorRecord] = [:]
        for (name, value) in json where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError.corrupt(path: path, detail: "malformed header entry for '\(name)'") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw CheckpointError.corrupt(path: path, detail: "tensor '\(name)' has negative shape or offsets")
            }
            guard let expected = CheckedSize.product(shape + [dtype.size]) else {
                throw CheckpointError.corrupt(path: path, detail: "tensor '\(name)' declares shape \(shape), whose size overflows")
            }
            guard offsets[1] - offsets[0] == expected else {
                throw CheckpointError.corrupt(path: path, detail:
                    "tensor '\(name)' spans \(offsets[1] - offsets[0]) bytes, its shape \(shape) \(dtypeName) needs \(expected)")
            }
            guard let end = CheckedSize.sum(dataStart, offsets[1]), end <= file.size else {
                throw CheckpointError.truncated(path: path, detail:
                    "tensor '\(name)' ends at byte \(dataStart + offsets[1]), file has \(file.size)")
            }
            tensors[name] = TensorRecord(name: name, dtype: dtype, shape: shape, file: file,
                                         byteOffset: dataStart + offsets[0])
        }
        return tensors
    }
}
