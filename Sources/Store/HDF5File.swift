import Digests
import CHDF5
import Foundation

/// An HDF5 failure, naming the file and the object or operation at fault.
public struct HDF5Error: Error, CustomStringConvertible {
    public let path: String
    public let detail: String
    public init(path: String, detail: String) {
        self.path = path
        self.detail = detail
    }
    public var description: String { "\(path): \(detail)" }
}

/// A small writer over the HDF5 C library: datasets (gzip + shuffle, chunked), UTF-8 strings,
/// attributes and dimension scales. HDF5 calls must stay on one thread per process
/// (../shared/PLATFORM.md). The file is written under a temporary name and renamed on `close`,
/// so a crash never leaves a half-written file under the final name.
public final class HDF5Writer {
    public let path: String
    let temporaryPath: String
    var file: hid_t = -1
    /// The gzip level of chunked datasets (with the shuffle filter): 4 for sweep.h5; 0 stores chunks
    /// unfiltered — fragments, read once by the merge: activations shrink only 1.2× under gzip, and
    /// compressing an extraction's 400 MB took 8 s of its worker (3.5% of the task).
    public var deflateLevel: UInt32 = 4

    public init(creating path: String) throws {
        self.path = path
        temporaryPath = path + ".tmp-\(getpid())"
        H5Eset_auto2(xl_H5E_DEFAULT(), nil, nil)   // errors become HDF5Error values, not stderr dumps
        let fcpl = H5Pcreate(xl_H5P_FILE_CREATE())
        defer { H5Pclose(fcpl) }
        H5Pset_obj_track_times(fcpl, false)   // the root group without times too
        file = H5Fcreate(temporaryPath, xl_H5F_ACC_TRUNC(), fcpl, xl_H5P_DEFAULT())
        guard file >= 0 else { throw HDF5Error(path: path, detail: "cannot create (directory missing or not writable?)") }
    }

    deinit {
        if halfMade { H5Tclose(half) }
        if file >= 0 {
            H5Fclose(file)
            unlink(temporaryPath)
        }
    }

    func check(_ status: herr_t, _ what: String) throws {
        guard status >= 0 else { throw HDF5Error(path: path, detail: "\(what) failed") }
    }

    public func createGroup(_ name: String) throws {
        // No creation times: the same data give the same bytes (fragments are compared by checksum).
        let gcpl = H5Pcreate(xl_H5P_GROUP_CREATE())
        defer { H5Pclose(gcpl) }
        H5Pset_obj_track_times(gcpl, false)
        let g = H5Gcreate2(file, name, xl_H5P_DEFAULT(), gcpl, xl_H5P_DEFAULT())
        guard g >= 0 else { throw HDF5Error(path: path, detail: "cannot create group \(name)") }
        H5Gclose(g)
    }

    /// Writes a row-major array; `chunk` (same rank as `shape`) enables gzip (`deflateLevel`, unless 0) + shuffle.
    @discardableResult
    func write(_ name: String, type: hid_t, shape: [Int], chunk: [Int]?, count: Int, bytes: UnsafeRawPointer?,
               fileType: hid_t? = nil) throws -> hid_t {
        guard shape.allSatisfy({ $0 >= 0 }), let expected = shape.reduce(Int?(1), { a, d in a.flatMap { a in
            let (m, o) = a.multipliedReportingOverflow(by: d); return o ? nil : m } }), expected == count else {
            throw HDF5Error(path: path, detail: "dataset \(name): \(count) values for shape \(shape)")
        }
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        defer { H5Sclose(space) }
        let plist = H5Pcreate(xl_H5P_DATASET_CREATE())
        defer { H5Pclose(plist) }
        try check(H5Pset_obj_track_times(plist, false), "creation properties of \(name)")   // same data, same bytes
        if let chunk, shape.allSatisfy({ $0 > 0 }) {
            var c = zip(chunk, shape).map { hsize_t(max(1, min($0, $1))) }
            try check(H5Pset_chunk(plist, Int32(c.count), &c), "chunking \(name)")
            if deflateLevel > 0 {
                try check(H5Pset_shuffle(plist), "shuffle filter on \(name)")
                try check(H5Pset_deflate(plist, deflateLevel), "gzip filter on \(name)")
            }
        }
        let ds = H5Dcreate2(file, name, fileType ?? type, space, xl_H5P_DEFAULT(), plist, xl_H5P_DEFAULT())
        guard ds >= 0 else { throw HDF5Error(path: path, detail: "cannot create dataset \(name)") }
        if let bytes, shape.allSatisfy({ $0 > 0 }) {
            try check(H5Dwrite(ds, type, xl_H5S_ALL(), xl_H5S_ALL(), xl_H5P_DEFAULT(), bytes), "writing \(name) (disk full?)")
        }
        return ds
    }

    /// How floats are kept in the file: fp32, or IEEE half (HDF5 converts on write and read; values
    /// rounded to half precision, a half's range ±65,504).
    public enum FloatStorage: String, Sendable, CaseIterable { case float32, float16 }

    public func write(_ name: String, floats: [Float], shape: [Int], chunk: [Int]? = nil, dimensions: [String] = [],
                      storage: FloatStorage = .float32) throws {
        let ds = try floats.withUnsafeBytes {
            digest(name, storage == .float32 ? "f32" : "f32→f16", shape, $0)
            return try write(name, type: xl_H5T_NATIVE_FLOAT(), shape: shape, chunk: chunk, count: floats.count, bytes: $0.baseAddress,
                             fileType: storage == .float16 ? half : nil)
        }
        try finish(ds, name, dimensions)
    }

    /// The file type of half-precision datasets (made once per writer).
    lazy var half: hid_t = { halfMade = true; return xl_H5T_IEEE_F16LE() }()
    var halfMade = false

    public func write(_ name: String, doubles: [Double], shape: [Int], chunk: [Int]? = nil, dimensions: [String] = []) throws {
        let ds = try doubles.withUnsafeBytes {
            digest(name, "f64", shape, $0)
            return try write(name, type: xl_H5T_NATIVE_DOUBLE(), shape: shape, chunk: chunk, count: doubles.count, bytes: $0.baseAddress)
        }
        try finish(ds, name, dimensions)
    }

    public func write(_ name: String, ints: [Int32], shape: [Int], chunk: [Int]? = nil, dimensions: [String] = []) throws {
        let ds = try ints.withUnsafeBytes {
            digest(name, "i32", shape, $0)
            return try write(name, type: xl_H5T_NATIVE_INT32(), shape: shape, chunk: chunk, count: ints.count, bytes: $0.baseAddress)
        }
        try finish(ds, name, dimensions)
    }

    public func write(_ name: String, int64s: [Int64], shape: [Int], chunk: [Int]? = nil, dimensions: [String] = []) throws {
        let ds = try int64s.withUnsafeBytes {
            digest(name, "i64", shape, $0)
            return try write(name, type: xl_H5T_NATIVE_INT64(), shape: shape, chunk: chunk, count: int64s.count, bytes: $0.baseAddress)
        }
        try finish(ds, name, dimensions)
    }

    /// Variable-length UTF-8 strings, one per element (`shape` defaults to one axis).
    public func write(_ name: String, strings: [String], shape: [Int]? = nil, dimensions: [String] = []) throws {
        let type = H5Tcopy(xl_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, xl_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        var joined: [UInt8] = []
        for string in strings { joined += Array(string.utf8) + [0] }
        joined.withUnsafeBytes { digest(name, "utf8", shape ?? [strings.count], $0) }
        let cStrings = strings.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let ds = try cStrings.withUnsafeBytes {
            try write(name, type: type, shape: shape ?? [strings.count], chunk: nil, count: strings.count, bytes: $0.baseAddress)
        }
        try finish(ds, name, dimensions)
    }

    /// SHA-256 over every dataset written (name, type, shape, values; attributes not included):
    /// what the file holds, whatever HDF5's layout bytes or the provenance attributes say.
    var content = SHA256()

    func digest(_ name: String, _ type: String, _ shape: [Int], _ bytes: UnsafeRawBufferPointer) {
        content.update(Array("\(name)\0\(type)\0\(shape.map(String.init).joined(separator: ","))\0".utf8))
        content.update(bytes)
    }

    /// The content digest so far ("sha256:…"); it does not finish the running hash.
    public var contentDigest: String {
        var copy = content
        return "sha256:" + copy.hexDigest()
    }

    /// One block of a virtual dataset: `count` elements from `start` in the virtual dataset are the
    /// `sourceCount` elements from `sourceStart` of `dataset` (whose shape is `sourceShape`) in
    /// `file` (relative paths resolve against the directory of the file holding the virtual dataset).
    public struct VirtualBlock: Sendable {
        public let file: String, dataset: String
        public let start: [Int], count: [Int]
        public let sourceShape: [Int], sourceStart: [Int], sourceCount: [Int]
        public init(file: String, dataset: String, start: [Int], count: [Int], sourceShape: [Int], sourceStart: [Int], sourceCount: [Int]) {
            self.file = file
            self.dataset = dataset
            self.start = start
            self.count = count
            self.sourceShape = sourceShape
            self.sourceStart = sourceStart
            self.sourceCount = sourceCount
        }
    }

    public enum VirtualType: Sendable { case float32, int64 }

    /// An HDF5 virtual dataset (no copy): `blocks` map regions of other files' datasets into it;
    /// elements no block covers read as the fill value (NaN for floats, −1 for integers).
    /// With `embed`, the same dataset holds a copy of the blocks instead, so the file stands alone:
    /// chunked by `chunk` (default: one chunk per leading index, the last two axes whole), gzip +
    /// shuffle when `compress` (activations are not: they hardly shrink, and slabs read at memory speed).
    public func writeVirtual(_ name: String, type kind: VirtualType, shape: [Int], blocks: [VirtualBlock], dimensions: [String] = [],
                             embed: Bool = false, chunk: [Int]? = nil, compress: Bool = true) throws {
        if embed {
            return try writeEmbedded(name, type: kind, shape: shape, blocks: blocks, dimensions: dimensions, chunk: chunk, compress: compress)
        }
        let (space, dcpl, type) = try padded(name, kind, shape)
        defer { H5Sclose(space); H5Pclose(dcpl) }
        for b in blocks {
            guard b.count.reduce(1, *) == b.sourceCount.reduce(1, *) else {
                throw HDF5Error(path: path, detail: "virtual dataset \(name): a block of \(b.count) from \(b.sourceCount) of \(b.file)")
            }
            let vspace = H5Scopy(space)
            defer { H5Sclose(vspace) }
            var start = b.start.map { hsize_t($0) }, count = b.count.map { hsize_t($0) }
            try check(H5Sselect_hyperslab(vspace, H5S_SELECT_SET, &start, nil, &count, nil), "selecting a block of \(name)")
            var sdims = b.sourceShape.map { hsize_t($0) }
            let sspace = H5Screate_simple(Int32(sdims.count), &sdims, nil)
            defer { H5Sclose(sspace) }
            var sstart = b.sourceStart.map { hsize_t($0) }, scount = b.sourceCount.map { hsize_t($0) }
            try check(H5Sselect_hyperslab(sspace, H5S_SELECT_SET, &sstart, nil, &scount, nil), "selecting \(b.dataset) of \(b.file)")
            try check(H5Pset_virtual(dcpl, vspace, b.file, b.dataset, sspace), "mapping \(b.file):\(b.dataset) into \(name)")
        }
        let ds = H5Dcreate2(file, name, type, space, xl_H5P_DEFAULT(), dcpl, xl_H5P_DEFAULT())
        guard ds >= 0 else { throw HDF5Error(path: path, detail: "cannot create virtual dataset \(name)") }
        try finish(ds, name, dimensions)
    }

    /// The dataspace of `shape`, and creation properties whose fill value pads what no block covers
    /// (NaN for floats, −1 for integers), with the memory type of `kind`. The caller closes both.
    func padded(_ name: String, _ kind: VirtualType, _ shape: [Int]) throws -> (space: hid_t, dcpl: hid_t, type: hid_t) {
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        let dcpl = H5Pcreate(xl_H5P_DATASET_CREATE())
        let type = kind == .float32 ? xl_H5T_NATIVE_FLOAT() : xl_H5T_NATIVE_INT64()
        var nan = Float.nan, minusOne: Int64 = -1
        let filled = kind == .float32 ? H5Pset_fill_value(dcpl, type, &nan) : H5Pset_fill_value(dcpl, type, &minusOne)
        guard filled >= 0 else {
            H5Sclose(space)
            H5Pclose(dcpl)
            throw HDF5Error(path: path, detail: "fill value of \(name) failed")
        }
        return (space, dcpl, type)
    }

    /// `writeVirtual(embed: true)`: a real dataset holding a copy of the blocks. Each chunk is
    /// assembled in memory (fill values, then every block that falls in it read straight from its
    /// source into place) and written whole, once; each source file is opened once. (Writing block
    /// by block into 20 MB chunks made HDF5 walk the selections element by element: a 4-language
    /// merge spent 27 s there.) A block that straddles chunks is copied on its own.
    func writeEmbedded(_ name: String, type kind: VirtualType, shape: [Int], blocks: [VirtualBlock], dimensions: [String],
                       chunk chosen: [Int]?, compress: Bool) throws {
        let (space, dcpl, type) = try padded(name, kind, shape)
        defer { H5Sclose(space); H5Pclose(dcpl) }
        try check(H5Pset_obj_track_times(dcpl, false), "creation properties of \(name)")
        var chunk: [Int] = []
        if shape.allSatisfy({ $0 > 0 }) {
            chunk = (chosen ?? shape.enumerated().map { $0.offset < shape.count - 2 ? 1 : $0.element })
                .enumerated().map { max(1, min($0.element, shape[$0.offset])) }
            var dims = chunk.map { hsize_t($0) }
            try check(H5Pset_chunk(dcpl, Int32(dims.count), &dims), "chunking \(name)")
            if compress && deflateLevel > 0 {
                try check(H5Pset_shuffle(dcpl), "shuffle filter on \(name)")
                try check(H5Pset_deflate(dcpl, deflateLevel), "gzip filter on \(name)")
            }
        }
        let ds = H5Dcreate2(file, name, type, space, xl_H5P_DEFAULT(), dcpl, xl_H5P_DEFAULT())
        guard ds >= 0 else { throw HDF5Error(path: path, detail: "cannot create dataset \(name)") }
        var failed = true
        defer { if failed { H5Dclose(ds) } }
        let directory = (path as NSString).deletingLastPathComponent
        var opened: [String: hid_t] = [:]
        defer { for f in opened.values { H5Fclose(f) } }
        /// Reads `b`'s source region into `memory` (a dataspace over `buffer`, its selection made).
        func read(_ b: VirtualBlock, into memory: hid_t, _ buffer: UnsafeMutableRawPointer) throws {
            let source = b.file.hasPrefix("/") ? b.file : directory + "/" + b.file
            let sf: hid_t
            if let f = opened[source] { sf = f } else {
                sf = H5Fopen(source, xl_H5F_ACC_RDONLY(), xl_H5P_DEFAULT())
                guard sf >= 0 else { throw HDF5Error(path: source, detail: "cannot open to embed \(b.dataset) into \(name)") }
                opened[source] = sf
            }
            let sd = H5Dopen2(sf, b.dataset, xl_H5P_DEFAULT())
            guard sd >= 0 else { throw HDF5Error(path: source, detail: "no dataset \(b.dataset) to embed into \(name)") }
            defer { H5Dclose(sd) }
            let sspace = H5Dget_space(sd)
            defer { H5Sclose(sspace) }
            var sstart = b.sourceStart.map { hsize_t($0) }, scount = b.sourceCount.map { hsize_t($0) }
            try check(H5Sselect_hyperslab(sspace, H5S_SELECT_SET, &sstart, nil, &scount, nil), "selecting \(b.dataset) of \(source)")
            try check(H5Dread(sd, type, memory, sspace, xl_H5P_DEFAULT(), buffer), "reading \(b.dataset) of \(source)")
        }
        let element = kind == .float32 ? 4 : 8
        /// Fills `count` elements at `p` with the fill value (NaN, −1).
        func fill(_ p: UnsafeMutableRawPointer, _ count: Int) {
            if kind == .float32 { p.initializeMemory(as: Float.self, repeating: .nan, count: count) }
            else { p.initializeMemory(as: Int64.self, repeating: -1, count: count) }
        }
        // Blocks by the chunk they fall in (chunk coordinates), in the order the chunks first appear.
        var byChunk: [[Int]: [VirtualBlock]] = [:], order: [[Int]] = [], straddling: [VirtualBlock] = []
        for b in blocks {
            guard b.count.reduce(1, *) == b.sourceCount.reduce(1, *) else {
                throw HDF5Error(path: path, detail: "embedded dataset \(name): a block of \(b.count) from \(b.sourceCount) of \(b.file)")
            }
            guard !chunk.isEmpty, b.count.allSatisfy({ $0 > 0 }) else { continue }
            let first = zip(b.start, chunk).map { $0 / $1 }
            let last = zip(zip(b.start, b.count), chunk).map { ($0.0 + $0.1 - 1) / $1 }
            if first != last { straddling.append(b); continue }
            if byChunk[first] == nil { order.append(first) }
            byChunk[first, default: []].append(b)
        }
        for coordinates in order {
            let origin = zip(coordinates, chunk).map { $0 * $1 }
            let extent = zip(zip(origin, chunk), shape).map { min($0.1, $1 - $0.0) }
            let n = extent.reduce(1, *)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: n * element, alignment: 64)
            defer { buffer.deallocate() }
            fill(buffer, n)
            var mdims = extent.map { hsize_t($0) }
            let memory = H5Screate_simple(Int32(mdims.count), &mdims, nil)
            defer { H5Sclose(memory) }
            for b in byChunk[coordinates]! {
                var at = zip(b.start, origin).map { hsize_t($0 - $1) }, count = b.count.map { hsize_t($0) }
                try check(H5Sselect_hyperslab(memory, H5S_SELECT_SET, &at, nil, &count, nil), "placing a block of \(name)")
                try read(b, into: memory, buffer)
            }
            try check(H5Sselect_all(memory), "selecting a chunk of \(name)")
            let fspace = H5Scopy(space)
            defer { H5Sclose(fspace) }
            var start = origin.map { hsize_t($0) }
            try check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nil, &mdims, nil), "selecting a chunk of \(name)")
            try check(H5Dwrite(ds, type, memory, fspace, xl_H5P_DEFAULT(), buffer), "writing \(name) (disk full?)")
        }
        for b in straddling {
            let n = b.sourceCount.reduce(1, *)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: n * element, alignment: 64)
            defer { buffer.deallocate() }
            var mdims = [hsize_t(n)]
            let memory = H5Screate_simple(1, &mdims, nil)
            defer { H5Sclose(memory) }
            try read(b, into: memory, buffer)
            let fspace = H5Scopy(space)
            defer { H5Sclose(fspace) }
            var start = b.start.map { hsize_t($0) }, count = b.count.map { hsize_t($0) }
            try check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, nil, &count, nil), "selecting a block of \(name)")
            try check(H5Dwrite(ds, type, memory, fspace, xl_H5P_DEFAULT(), buffer), "writing \(name) (disk full?)")
        }
        failed = false
        try finish(ds, name, dimensions)
    }

    /// Every dataset written so far, in order.
    public private(set) var datasetNames: [String] = []

    /// Open dimension-scale datasets by dataset name.
    var scales: [String: hid_t] = [:]

    /// Makes dataset `name` a dimension scale called `dimension` (what h5py/xarray show as the axis name).
    public func makeScale(_ name: String, dimension: String) throws {
        let ds = H5Dopen2(file, name, xl_H5P_DEFAULT())
        guard ds >= 0 else { throw HDF5Error(path: path, detail: "no dataset \(name) for scale \(dimension)") }
        try check(H5DSset_scale(ds, dimension), "making \(name) a dimension scale")
        scales[name] = ds
    }

    /// `dimensions[i]` names the scale dataset of axis i (attached) or, without one, its label.
    func finish(_ ds: hid_t, _ name: String, _ dimensions: [String]) throws {
        defer { H5Dclose(ds) }
        datasetNames.append(name)
        for (i, dimension) in dimensions.enumerated() {
            if let scale = scales[dimension] {
                try check(H5DSattach_scale(ds, scale, UInt32(i)), "attaching scale \(dimension) to \(name)")
            } else {
                try check(H5DSset_label(ds, UInt32(i), dimension), "labelling dimension \(i) of \(name)")
            }
        }
    }

    /// A variable-length UTF-8 string attribute (h5py reads it as `str`) on `object` ("/": the file).
    public func setAttribute(_ name: String, _ value: String, on object: String = "/") throws {
        let type = H5Tcopy(xl_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, xl_H5T_VARIABLE())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attr = H5Acreate_by_name(file, object, name, type, space, xl_H5P_DEFAULT(), xl_H5P_DEFAULT(), xl_H5P_DEFAULT())
        guard attr >= 0 else { throw HDF5Error(path: path, detail: "cannot create attribute \(name) on \(object)") }
        defer { H5Aclose(attr) }
        var cString = strdup(value)
        defer { free(cString) }
        try check(H5Awrite(attr, type, &cString), "writing attribute \(name)")
    }

    /// Flushes, closes and atomically renames the file to its final name.
    public func close() throws {
        for (_, ds) in scales { H5Dclose(ds) }
        scales = [:]
        try check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flushing (disk full?)")
        try check(H5Fclose(file), "closing (disk full?)")
        file = -1
        guard rename(temporaryPath, path) == 0 else {
            throw HDF5Error(path: path, detail: "cannot rename \(temporaryPath) into place: \(String(cString: strerror(errno)))")
        }
    }
}
