/// A fixed-size, 64-byte-aligned fp32 buffer: weights and activations of the forward pass.
/// Immutable weights are shared across threads; activations are written by one forward at a time.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Zero-filled unless `uninitialized`, for scratch space that is written before it is read.
    public init(count: Int, uninitialized: Bool = false) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        if !uninitialized { pointer.initialize(repeating: 0, count: max(1, count)) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, uninitialized: true)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
