import CKernelSupport

/// A row-major 16-bit matrix `[rows, cols]` of bf16 or fp16 values: borrowed in place from a
/// memory-mapped checkpoint, or owned (bf16) when rounded from fp32. The bf16 path of the forward
/// never widens a whole matrix; fp16 values are rounded to bf16 only inside the product kernel,
/// a 64-row panel at a time.
public struct HalfMatrix: @unchecked Sendable {
    public enum Format: Sendable { case bf16, fp16 }

    public let base: UnsafePointer<UInt16>
    public let rows: Int
    public let cols: Int
    public let format: Format
    /// Keeps the mapping (or the owned storage) alive as long as the matrix.
    let owner: AnyObject

    /// Borrows `rows × cols` values at `base`, kept alive by `owner` (e.g. a MappedFile).
    public init(borrowing base: UnsafePointer<UInt16>, rows: Int, cols: Int, format: Format = .bf16, owner: AnyObject) {
        self.base = base
        self.rows = rows
        self.cols = cols
        self.format = format
        self.owner = owner
    }

    /// Rounds fp32 values to bf16 (nearest even) into storage of its own.
    public init(rounding values: UnsafePointer<Float>, rows: Int, cols: Int) {
        let storage = HalfStorage(count: rows * cols)
        xl_round_to_bf16(KernelPath.active.rawValue, values, storage.pointer, rows * cols)
        self.init(borrowing: storage.pointer, rows: rows, cols: cols, owner: storage)
    }

    /// Widens row `r` to fp32, exactly (an embedding lookup).
    public func row(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        switch format {
        case .bf16: Precision.convertBF16(base + r * cols, dst, count: cols)
        case .fp16: Precision.convertFP16(base + r * cols, dst, count: cols)
        }
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
