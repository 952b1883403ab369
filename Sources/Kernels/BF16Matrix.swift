import CKernelSupport

/// A row-major bf16 matrix `[rows, cols]`: borrowed in place from a memory-mapped checkpoint, or
/// owned when rounded from wider values. The bf16 path of the forward never widens a whole matrix.
public struct BF16Matrix: @unchecked Sendable {
    public let base: UnsafePointer<UInt16>
    public let rows: Int
    public let cols: Int
    /// Keeps the mapping (or the owned storage) alive as long as the matrix.
    let owner: AnyObject

    /// Borrows `rows × cols` bf16 values at `base`, kept alive by `owner` (e.g. a MappedFile).
    public init(borrowing base: UnsafePointer<UInt16>, rows: Int, cols: Int, owner: AnyObject) {
        self.base = base
        self.rows = rows
        self.cols = cols
        self.owner = owner
    }

    /// Rounds fp32 values to bf16 (nearest even) into storage of its own.
    public init(rounding values: UnsafePointer<Float>, rows: Int, cols: Int) {
        let storage = HalfStorage(count: rows * cols)
        xl_round_to_bf16(KernelPath.active.rawValue, values, storage.pointer, rows * cols)
        self.init(borrowing: storage.pointer, rows: rows, cols: cols, owner: storage)
    }

    /// Widens row `r` to fp32 (an embedding lookup).
    public func row(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        Precision.convertBF16(base + r * cols, dst, count: cols)
    }

    /// Bytes of the matrix.
    public var byteCount: Int { rows * cols * 2 }
}

/// 64-byte-aligned 16-bit storage.
final class HalfStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt16>

    init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 2, alignment: 64)
        pointer = raw.bindMemory(to: UInt16.self, capacity: max(1, count))
    }

    deinit { pointer.deallocate() }
}
