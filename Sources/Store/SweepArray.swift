import Foundation

/// A dataset of sweep.h5 read with its named axes (from `SweepSchema`): values are addressed by
/// dimension name, not by re-deriving the file's layout, and a file whose shape does not have the
/// schema's axes is refused with the dataset named.
public struct SweepArray<T: Sendable>: Sendable {
    public let name: String
    public let dimensions: [String]
    public let shape: [Int]
    public let values: [T]
    /// Elements between consecutive indices of each dimension (row-major).
    let strides: [Int]

    public init(name: String, values: [T], shape: [Int]) throws {
        let dimensions = SweepSchema.dimensions(name)
        guard SweepSchema.entry(name) != nil else { throw HDF5Error(path: name, detail: "no entry in SweepSchema: its axes are unknown") }
        guard dimensions.count == shape.count else {
            throw HDF5Error(path: name, detail: "shape \(shape), but the schema's axes are \(dimensions)")
        }
        guard values.count == shape.reduce(1, *) else {
            throw HDF5Error(path: name, detail: "\(values.count) values for shape \(shape)")
        }
        self.name = name
        self.dimensions = dimensions
        self.shape = shape
        self.values = values
        var s = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] }
        strides = s
    }

    /// The length of axis `dimension`.
    public func count(_ dimension: String) -> Int {
        guard let i = dimensions.firstIndex(of: dimension) else { preconditionFailure("\(name) has no axis \(dimension) (\(dimensions))") }
        return shape[i]
    }

    /// The element at `coordinates`, which name every axis: `accuracy[["checkpoint": c, "layer": l, "seed": s]]`.
    public subscript(_ coordinates: [String: Int]) -> T {
        precondition(coordinates.count == dimensions.count, "\(name): give all of \(dimensions), not \(coordinates.keys.sorted())")
        var at = 0
        for (i, d) in dimensions.enumerated() {
            guard let c = coordinates[d] else { preconditionFailure("\(name): no coordinate for \(d)") }
            precondition(c >= 0 && c < shape[i], "\(name): \(d) = \(c) outside 0..<\(shape[i])")
            at += c * strides[i]
        }
        return values[at]
    }

    /// The elements along `dimension`, the other axes fixed by `coordinates`.
    public func along(_ dimension: String, _ coordinates: [String: Int]) -> [T] {
        (0..<count(dimension)).map { i in self[coordinates.merging([dimension: i]) { $1 }] }
    }
}

extension HDF5Reader {
    /// A floating-point dataset as doubles, by named axis.
    public func named(_ name: String) throws -> SweepArray<Double> {
        let (values, shape) = try doubles(name)
        return try inFile { try SweepArray(name: name, values: values, shape: shape) }
    }

    /// An integer dataset, by named axis.
    public func namedInts(_ name: String) throws -> SweepArray<Int64> {
        let (values, shape) = try ints(name)
        return try inFile { try SweepArray(name: name, values: values, shape: shape) }
    }

    /// A dataset the schema refuses, said with this file's path: `sweep.h5: probe_accuracy: shape …`.
    func inFile<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as HDF5Error { throw HDF5Error(path: path, detail: "\(e.path): \(e.detail)") }
    }
}
