import Foundation

/// Resolves what a user calls a model — a directory, or a Hugging Face repo id plus revision —
/// to a checkpoint directory, offline. The cache layout is huggingface_hub's:
/// `$HF_HOME/hub/models--ORG--NAME/{refs/REV → SHA, snapshots/SHA/}`.
public enum ModelLocator {
    public static func hubCache(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let cache = environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"] { return cache }
        if let home = environment["HF_HOME"] { return home + "/hub" }
        let base = environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return base + "/huggingface/hub"
    }

    /// The directory holding `config.json` for `model` at `revision` (nil: "main").
    public static func resolve(_ model: String, revision: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        var isDirectory: ObjCBool = false
        if revision == nil, FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
            return model
        }
        let cache = hubCache(environment: environment)
        let repoDir = cache + "/models--" + model.replacingOccurrences(of: "/", with: "--")
        guard FileManager.default.fileExists(atPath: repoDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.repoNotFound(repo: model, cache: cache)
        }
        let rev = revision ?? "main"
        let snapshots = repoDir + "/snapshots"
        var sha = rev
        if let ref = try? String(contentsOfFile: repoDir + "/refs/" + rev, encoding: .utf8) {
            sha = ref.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let snapshot = snapshots + "/" + sha
        if !rev.contains("/"), !rev.contains(".."), FileManager.default.fileExists(atPath: snapshot) { return snapshot }
        let refs = (try? FileManager.default.subpathsOfDirectory(atPath: repoDir + "/refs")) ?? []
        throw CheckpointError.revisionNotFound(repo: model, revision: rev, cache: repoDir, available: refs.sorted())
    }

    /// The refs (branches and tags) cached for `repo`, sorted; nil when the repo is not cached.
    /// Pull-request refs (`refs/pr/N`) are left out.
    public static func refs(_ repo: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> [String]? {
        let repoDir = hubCache(environment: environment) + "/models--" + repo.replacingOccurrences(of: "/", with: "--")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: repoDir, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: repoDir + "/refs")) ?? []
        return names.filter { name in
            var d: ObjCBool = false
            return FileManager.default.fileExists(atPath: repoDir + "/refs/" + name, isDirectory: &d) && !d.boolValue
        }.sorted()
    }
}
