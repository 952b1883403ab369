import Foundation

/// A read-only memory map of a whole file; tensors are views into it until converted.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    public let bytes: UnsafeRawPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.fileNotFound(path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError.fileNotFound(path: path) }
        size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw CheckpointError.corrupt(path: path, detail: "cannot be memory-mapped")
        }
        bytes = UnsafeRawPointer(map)
    }

    deinit {
        if size > 0 { munmap(UnsafeMutableRawPointer(mutating: bytes), size) }
    }

    /// Hands the pages wholly inside `count` bytes at `offset` back to the kernel (madvise
    /// MADV_DONTNEED): a tensor that was copied out (widened, packed) then stops counting toward
    /// this process's resident memory. The mapping stays valid; a later read faults the pages in
    /// again from the file.
    public func release(offset: Int, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: bytes) + offset + page - 1) / page * page
        let end = (Int(bitPattern: bytes) + offset + count) / page * page
        guard size > 0, end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_DONTNEED)
    }

    /// Little-endian integer at `offset`, or a `truncated` error naming what was being read.
    func read<T: FixedWidthInteger>(_: T.Type, at offset: Int, what: String) throws -> T {
        guard offset >= 0, offset <= size - MemoryLayout<T>.size else {
            throw CheckpointError.truncated(path: path, detail: "\(what) at byte \(offset) is past the end (\(size) bytes)")
        }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A 64-bit offset or size at `offset` that must lie within the file (anything larger cannot
    /// be right, and would overflow later arithmetic).
    func readOffset(at offset: Int, what: String) throws -> Int {
        let v = try read(UInt64.self, at: offset, what: what)
        guard v <= UInt64(size) else {
            throw CheckpointError.corrupt(path: path, detail: "\(what) \(v) at byte \(offset) is beyond the file's \(size) bytes")
        }
        return Int(v)
    }
}
