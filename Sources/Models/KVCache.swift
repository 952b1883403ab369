import Kernels

/// Keys and values of every layer for one sequence, `[length, dModel]` per layer (head h at
/// columns h·headDim…), grown as tokens are appended.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let width: Int
    public private(set) var length = 0
    private(set) var capacity = 0
    var keys: [FloatBuffer] = []
    var values: [FloatBuffer] = []

    public init(layers: Int, width: Int) {
        self.layers = layers
        self.width = width
    }

    /// Makes room for `extra` more positions, keeping what is stored.
    func reserve(_ extra: Int) {
        let needed = length + extra
        guard needed > capacity else { return }
        let newCapacity = max(needed, capacity * 2, 16)
        func grow(_ old: [FloatBuffer]) -> [FloatBuffer] {
            (0..<layers).map { l in
                let b = FloatBuffer(count: newCapacity * width, uninitialized: true)
                if l < old.count { b.pointer.update(from: old[l].pointer, count: length * width) }
                return b
            }
        }
        keys = grow(keys)
        values = grow(values)
        capacity = newCapacity
    }

    /// Records that `n` positions were written to every layer.
    func advance(_ n: Int) { length += n }

    /// Becomes a copy of `other`'s positions: a sequence whose tokens so far are `other`'s.
    func copy(from other: KVCache) {
        precondition(layers == other.layers && width == other.width, "caches of different models")
        length = 0
        reserve(other.length)
        for l in 0..<other.keys.count {
            keys[l].pointer.update(from: other.keys[l].pointer, count: other.length * width)
            values[l].pointer.update(from: other.values[l].pointer, count: other.length * width)
        }
        length = other.length
    }
}
