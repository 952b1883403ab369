import Foundation
import Store
import SweepCore

/// A sweep's fragments directory: where each task's fragment lives, and how one is written and
/// opened. Fragments record the task, the inputs they were made from (`inputs`, `inputs_digest`),
/// a digest of the values they hold (`content_digest`: datasets only, so provenance such as when
/// and where a task ran does not enter it) and the content digests of the fragments they read
/// (`read`), so the ledger can tell a current fragment from a stale one.
public struct FragmentStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func path(_ id: String) -> String { directory + "/" + Fragment.fileName(task: id) }

    /// The content digest a fragment records, if it is readable and has one.
    public func contentDigest(_ id: String) -> String? { try? reader(id).attribute("content_digest") }

    /// Writes the fragment of `id` durably, bound to `inputs` and to the content digests of the
    /// fragments it `read`, with `provenance` attributes beside (when, where, which attempt, how
    /// long, its memory: they bind nothing), taken once `body` has written the data.
    public func write(_ id: String, inputs: TaskInputs, read: [String] = [], provenance: () -> [String: String] = { [:] },
                      _ body: (HDF5Writer) throws -> Void) throws {
        var checksums: [String: String] = [:]
        for r in read {
            guard let sum = contentDigest(r) else { throw SweepError("\(path(r)): the fragment this task read has no content digest") }
            checksums[r] = sum
        }
        let readJSON = String(decoding: (try? JSONSerialization.data(withJSONObject: checksums, options: [.sortedKeys])) ?? Data("{}".utf8),
                              as: UTF8.self)
        let binding = ["inputs": inputs.json, "inputs_digest": inputs.digest, "read": readJSON, "fragment_schema": FragmentStore.schema]
        try Fragment.write(task: id, directory: directory, attributes: binding, after: provenance) { try body($0) }
    }

    /// Opens the fragment of `id` for reading.
    public func reader(_ id: String) throws -> HDF5Reader { try HDF5Reader(path: path(id)) }

    /// Version of the fragment layout; fragments of another layout are made again.
    public static let schema = "3"
}

/// A dataset of a fragment read with its shape checked against what the plan expects.
extension HDF5Reader {
    func floats(_ name: String, shape expected: [Int?]) throws -> [Float] {
        let r = try floats(name)
        try checkShape(name, r.shape, expected)
        return r.values
    }

    func doubles(_ name: String, shape expected: [Int?]) throws -> [Double] {
        let r = try doubles(name)
        try checkShape(name, r.shape, expected)
        return r.values
    }

    func ints(_ name: String, shape expected: [Int?]) throws -> [Int64] {
        let r = try ints(name)
        try checkShape(name, r.shape, expected)
        return r.values
    }

    /// `expected`: one entry per axis, nil where any length is allowed.
    func checkShape(_ name: String, _ shape: [Int], _ expected: [Int?]) throws {
        guard shape.count == expected.count, zip(shape, expected).allSatisfy({ $1 == nil || $0 == $1 }) else {
            let want = expected.map { $0.map(String.init) ?? "*" }.joined(separator: ", ")
            throw SweepError("\(path): dataset \(name) has shape \(shape), the plan expects [\(want)]")
        }
    }
}
