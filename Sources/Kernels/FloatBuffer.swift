/// A fixed-size fp32 buffer: weights and activations of the forward pass. Owned buffers are
/// 64-byte aligned; a borrowed one is a read-only view (fp32 weights used in place in a
/// memory-mapped checkpoint), kept alive by its owner. Immutable weights are shared across
/// threads; activations are written by one forward at a time.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// What keeps borrowed memory alive (nil: the buffer owns its memory).
    private let owner: AnyObject?

    /// Views `count` values at `base` without copying; `owner` (e.g. the MappedFile) outlives it.
    /// The memory must not be written through `pointer`.
    public init(borrowing base: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        pointer = UnsafeMutablePointer(mutating: base)
        self.count = count
        self.owner = owner
    }

    /// Zero-filled unless `uninitialized`, for scratch space that is written before it is read.
    public init(count: Int, uninitialized: Bool = false) {
        self.count = count
        owner = nil
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        if !uninitialized { pointer.initialize(repeating: 0, count: max(1, count)) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, uninitialized: true)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { if owner == nil { pointer.deallocate() } }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
