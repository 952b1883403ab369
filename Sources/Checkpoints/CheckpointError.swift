/// Every way a checkpoint can be unreadable, each naming the file and the item at fault.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case noWeights(directory: String)
    case truncated(path: String, detail: String)
    case corrupt(path: String, detail: String)
    case refusedGlobal(path: String, global: String)
    case unsupportedPickle(path: String, offset: Int, detail: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case missingTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case badConfig(path: String, key: String, detail: String)
    case unknownModelType(path: String, modelType: String)
    case revisionNotFound(repo: String, revision: String, cache: String, available: [String])
    case repoNotFound(repo: String, cache: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .noWeights(let dir):
            return "\(dir): no weights (expected model.safetensors, model.safetensors.index.json, "
                + "pytorch_model.bin or pytorch_model.bin.index.json)"
        case .truncated(let path, let detail): return "\(path): truncated file: \(detail)"
        case .corrupt(let path, let detail): return "\(path): corrupt file: \(detail)"
        case .refusedGlobal(let path, let global):
            return "\(path): the pickle asks for '\(global)', which is not a tensor-rebuilding callable; "
                + "refused (nothing was executed)"
        case .unsupportedPickle(let path, let offset, let detail):
            return "\(path): pickle byte \(offset): \(detail); refused (nothing was executed)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        case .missingTensor(let path, let tensor): return "\(path): missing tensor '\(tensor)'"
        case .shapeMismatch(let path, let tensor, let expected, let found):
            return "\(path): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .badConfig(let path, let key, let detail): return "\(path): key '\(key)': \(detail)"
        case .unknownModelType(let path, let type):
            return "\(path): unknown model_type '\(type)' (supported: bloom, xglm, gemma3_text, llama, gpt_neox, olmo2)"
        case .revisionNotFound(let repo, let rev, let cache, let available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(cache): revision '\(rev)' of \(repo) is not in the Hugging Face cache (available: \(list))"
        case .repoNotFound(let repo, let cache):
            return "\(cache): \(repo) is neither a directory nor a repository in the Hugging Face cache"
        }
    }
}
