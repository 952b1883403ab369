import Foundation

/// Where a checkpoint's tokenizer comes from when not beside its weights: a cached repo (BLOOM's
/// intermediate branches carry none; it is `bigscience/bloom-560m`'s) or a path.
public enum TokenizerSource: Sendable, Equatable, Hashable, CustomStringConvertible {
    case repo(String, revision: String?)
    /// A tokenizer.json, or a directory holding one.
    case path(String)

    /// The tokenizer.json this names, found offline.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        switch self {
        case .repo(let repo, let revision):
            let file = try ModelLocator.resolve(repo, revision: revision, environment: environment) + "/tokenizer.json"
            guard FileManager.default.fileExists(atPath: file) else { throw CheckpointError.fileNotFound(path: file) }
            return file
        case .path(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CheckpointError.fileNotFound(path: path) }
            let file = isDirectory.boolValue ? path + "/tokenizer.json" : path
            guard FileManager.default.fileExists(atPath: file) else { throw CheckpointError.fileNotFound(path: file) }
            return file
        }
    }

    public var description: String {
        switch self {
        case .repo(let repo, let revision): return "\(repo)@\(revision ?? "main")"
        case .path(let path): return path
        }
    }
}
