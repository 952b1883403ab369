/// Why a `tokenizer.json` cannot be used, naming the file and the JSON key at fault.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let key: String
    public let detail: String

    public init(path: String, key: String, detail: String) {
        self.path = path
        self.key = key
        self.detail = detail
    }

    public var description: String { "\(path): \(key): \(detail)" }
}

/// Typed access to a decoded JSON object, with errors that carry the key path.
struct JSONObject {
    let path: String
    let keyPath: String
    let dict: [String: Any]

    func fail(_ key: String, _ detail: String) -> TokenizerError {
        TokenizerError(path: path, key: keyPath.isEmpty ? key : keyPath + "." + key, detail: detail)
    }

    func string(_ key: String) throws -> String {
        guard let v = dict[key] as? String else { throw fail(key, "expected a string") }
        return v
    }

    func optionalString(_ key: String) -> String? { dict[key] as? String }
    func bool(_ key: String, default value: Bool) -> Bool { dict[key] as? Bool ?? value }

    func object(_ key: String) throws -> JSONObject {
        guard let v = dict[key] as? [String: Any] else { throw fail(key, "expected an object") }
        return JSONObject(path: path, keyPath: keyPath.isEmpty ? key : keyPath + "." + key, dict: v)
    }

    func optionalObject(_ key: String) -> JSONObject? {
        guard let v = dict[key] as? [String: Any] else { return nil }
        return JSONObject(path: path, keyPath: keyPath.isEmpty ? key : keyPath + "." + key, dict: v)
    }

    func objects(_ key: String) throws -> [JSONObject] {
        guard let v = dict[key] as? [[String: Any]] else { throw fail(key, "expected a list of objects") }
        return v.enumerated().map { i, d in
            JSONObject(path: path, keyPath: (keyPath.isEmpty ? key : keyPath + "." + key) + "[\(i)]", dict: d)
        }
    }

    var type: String { dict["type"] as? String ?? "?" }
}
