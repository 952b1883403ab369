/// The one mapping between a flat unit index (units numbered layer-major over the captured
/// layers, as sweep.h5's `unit` axis and the `experts` datasets hold them) and (layer, unit).
/// Everything that converts between the two goes through this type.
public struct UnitIndex: Sendable, Equatable {
    /// The captured layers, in order, and the number of units each has.
    public let layers: [Int]
    public let layerSizes: [Int]
    /// Flat index of each captured layer's first unit.
    public let offsets: [Int]

    public init(layers: [Int], layerSizes: [Int]) {
        precondition(layers.count == layerSizes.count, "one size per layer")
        self.layers = layers
        self.layerSizes = layerSizes
        var running = 0
        offsets = layerSizes.map { size in defer { running += size }; return running }
    }

    /// Layers 0..<count, each of `width` units (every MLP layer of one model).
    public init(layers count: Int, width: Int) {
        self.init(layers: Array(0..<count), layerSizes: [Int](repeating: width, count: count))
    }

    /// Total number of units.
    public var count: Int { layerSizes.reduce(0, +) }

    /// The unit at flat index `flat`, or nil outside 0..<count.
    public func unit(at flat: Int) -> UnitID? {
        guard flat >= 0 else { return nil }
        for (i, size) in layerSizes.enumerated() where flat < offsets[i] + size {
            return UnitID(layer: layers[i], unit: flat - offsets[i])
        }
        return nil
    }

    /// The flat index of `id`, or nil when its layer is not captured or its unit is out of range.
    public func flat(_ id: UnitID) -> Int? {
        guard let i = layers.firstIndex(of: id.layer), id.unit >= 0, id.unit < layerSizes[i] else { return nil }
        return offsets[i] + id.unit
    }
}
