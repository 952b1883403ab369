import CHDF5
import Foundation

/// Reads what `HDF5Writer` wrote: float/int datasets with their shapes, string datasets and
/// string attributes. One thread per process (HDF5 is serialised by a global lock).
public final class HDF5Reader {
    public let path: String
    var file: hid_t

    public init(path: String) throws {
        self.path = path
        H5Eset_auto2(xl_H5E_DEFAULT(), nil, nil)
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error(path: path, detail: "no such file") }
        file = H5Fopen(path, xl_H5F_ACC_RDONLY(), xl_H5P_DEFAULT())
        guard file >= 0 else { throw HDF5Error(path: path, detail: "not a readable HDF5 file (truncated or corrupt?)") }
    }

    deinit { if file >= 0 { H5Fclose(file) } }

    public func exists(_ name: String) -> Bool {
        // Check each path component, as H5Lexists requires.
        var prefix = ""
        for part in name.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(file, prefix, xl_H5P_DEFAULT()) <= 0 { return false }
        }
        return true
    }

    func open(_ name: String) throws -> (hid_t, [Int]) {
        guard exists(name) else { throw HDF5Error(path: path, detail: "no dataset \(name)") }
        let ds = H5Dopen2(file, name, xl_H5P_DEFAULT())
        guard ds >= 0 else { throw HDF5Error(path: path, detail: "cannot open dataset \(name)") }
        let space = H5Dget_space(ds)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = rank == 0 ? [] : dims.prefix(rank).map { Int(clamping: $0) }
        // A dataset larger than memory could ever hold is a corrupt or hostile file, not a trap.
        var count = 1
        for d in shape {
            let (m, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, m <= 1 << 40 else {
                H5Dclose(ds)
                throw HDF5Error(path: path, detail: "dataset \(name) declares shape \(shape), too large to read")
            }
            count = m
        }
        return (ds, shape)
    }

    /// The whole dataset converted to `T` by HDF5 (`type` is T's native HDF5 type).
    func read<T: Numeric>(_ name: String, as type: hid_t) throws -> (values: [T], shape: [Int]) {
        let (ds, shape) = try open(name)
        defer { H5Dclose(ds) }
        var out = [T](repeating: 0, count: shape.reduce(1, *))
        if !out.isEmpty {
            let status = out.withUnsafeMutableBytes {
                H5Dread(ds, type, xl_H5S_ALL(), xl_H5S_ALL(), xl_H5P_DEFAULT(), $0.baseAddress)
            }
            guard status >= 0 else { throw HDF5Error(path: path, detail: "cannot read \(name) (corrupt?)") }
        }
        return (out, shape)
    }

    public func floats(_ name: String) throws -> (values: [Float], shape: [Int]) { try read(name, as: xl_H5T_NATIVE_FLOAT()) }
    public func doubles(_ name: String) throws -> (values: [Double], shape: [Int]) { try read(name, as: xl_H5T_NATIVE_DOUBLE()) }
    public func ints(_ name: String) throws -> (values: [Int64], shape: [Int]) { try read(name, as: xl_H5T_NATIVE_INT64()) }

    /// A variable-length UTF-8 string dataset.
    public func strings(_ name: String) throws -> [String] {
        let (ds, shape) = try open(name)
        defer { H5Dclose(ds) }
        let n = shape.reduce(1, *)
        guard n > 0 else { return [] }
        let type = H5Tcopy(xl_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, xl_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: n)
        let status = pointers.withUnsafeMutableBytes {
            H5Dread(ds, type, xl_H5S_ALL(), xl_H5S_ALL(), xl_H5P_DEFAULT(), $0.baseAddress)
        }
        guard status >= 0 else { throw HDF5Error(path: path, detail: "cannot read strings \(name)") }
        defer { pointers.forEach { free($0) } }
        return pointers.map { $0.map { String(cString: $0) } ?? "" }
    }

    /// A string attribute of `object` ("/" for the file).
    public func attribute(_ name: String, on object: String = "/") throws -> String {
        guard H5Aexists_by_name(file, object, name, xl_H5P_DEFAULT()) > 0 else {
            throw HDF5Error(path: path, detail: "no attribute \(name) on \(object)")
        }
        let attr = H5Aopen_by_name(file, object, name, xl_H5P_DEFAULT(), xl_H5P_DEFAULT())
        defer { H5Aclose(attr) }
        let type = H5Tcopy(xl_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, xl_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        var pointer: UnsafeMutablePointer<CChar>?
        guard H5Aread(attr, type, &pointer) >= 0 else { throw HDF5Error(path: path, detail: "cannot read attribute \(name)") }
        defer { free(pointer) }
        return pointer.map { String(cString: $0) } ?? ""
    }
}
