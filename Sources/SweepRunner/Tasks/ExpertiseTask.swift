import Foundation
import Probing
import Store
import SweepCore

/// Concept expertise of one language's pool (checkpoint, language): per concept, every unit's AP
/// and forcing values and the top-K experts (flat unit indices, −1 padded; all −1 and NaN when the
/// concept has too few positives or no negatives).
public struct ExpertiseFragment: Sendable {
    public var positives: [Int32]
    /// `[concepts, units]` each.
    public var averagePrecision: [Float], onP50: [Float], onP90: [Float], offMean: [Float]
    /// `[concepts, k]`.
    public var experts: [Int64]
    public var units: UnitIndex

    public func values(_ forcing: SweepConfig.Forcing) -> [Float] {
        switch forcing {
        case .onP50: return onP50
        case .onP90: return onP90
        case .offMean: return offMean
        }
    }

    /// Concept `c`'s experts (−1 padding dropped).
    public func experts(concept c: Int, k: Int) -> [Int64] { experts[(c * k)..<((c + 1) * k)].filter { $0 >= 0 } }

    public func write(to w: HDF5Writer, concepts: Int, k: Int) throws {
        try w.write("positives", ints: positives, shape: [concepts])
        for (name, values) in [("ap", averagePrecision), ("on_p50", onP50), ("on_p90", onP90), ("off_mean", offMean)] {
            try w.write(name, floats: values, shape: [concepts, units.count], chunk: [1, units.count])
        }
        try w.write("experts", int64s: experts, shape: [concepts, k])
        try w.write("layer_sizes", int64s: units.layerSizes.map(Int64.init), shape: [units.layerSizes.count])
    }

    /// Reads a fragment, checking its shapes against the plan: `concepts` × the model's MLP units, `k`.
    public init(reading r: HDF5Reader, concepts: Int, k: Int, units expected: UnitIndex) throws {
        let sizes = try r.ints("layer_sizes", shape: [expected.layers.count]).map(Int.init)
        guard sizes == expected.layerSizes else {
            throw SweepError("\(r.path): layer sizes \(sizes), the plan's model has \(expected.layerSizes)")
        }
        units = expected
        positives = try r.ints("positives", shape: [concepts]).map(Int32.init)
        averagePrecision = try r.floats("ap", shape: [concepts, units.count])
        onP50 = try r.floats("on_p50", shape: [concepts, units.count])
        onP90 = try r.floats("on_p90", shape: [concepts, units.count])
        offMean = try r.floats("off_mean", shape: [concepts, units.count])
        experts = try r.ints("experts", shape: [concepts, k])
        if let bad = experts.first(where: { $0 < -1 || $0 >= Int64(units.count) }) {
            throw SweepError("\(r.path): expert index \(bad) outside the model's \(units.count) units")
        }
    }

    init(positives: [Int32], averagePrecision: [Float], onP50: [Float], onP90: [Float], offMean: [Float], experts: [Int64],
         units: UnitIndex) {
        self.positives = positives
        self.averagePrecision = averagePrecision
        self.onP50 = onP50
        self.onP90 = onP90
        self.offMean = offMean
        self.experts = experts
        self.units = units
    }
}

extension TaskRunner {
    /// The MLP units of a checkpoint's model, numbered layer-major.
    func units(_ checkpoint: String) -> UnitIndex {
        let m = sweep.modelConfigs[checkpoint]!
        return UnitIndex(layers: m.nLayers, width: m.dMLP)
    }

    func readExpertise(_ checkpoint: String, _ language: String) throws -> ExpertiseFragment {
        try ExpertiseFragment(reading: try store.reader(SweepTask.expertise(checkpoint, language).id), concepts: sweep.concepts.count,
                              k: sweep.config.expertise.k, units: units(checkpoint))
    }

    /// Concept labels of a pool's rows, from the data set (a row is a positive of each concept its sentence lists).
    func labels(_ extract: ExtractFragment, language: String) throws -> [[Bool]] {
        let sentences = data.pool[language] ?? []
        return try extract.sentenceIndex.map { i in
            guard i >= 0, Int(i) < sentences.count else {
                throw SweepError("extraction of \(language) names sentence \(i) of a pool of \(sentences.count)")
            }
            let listed = sentences[Int(i)].concepts
            return sweep.concepts.map(listed.contains)
        }
    }

    func expertise(_ task: SweepTask) throws {
        let lang = task.language!
        let extract = try readExtract(task.checkpoint, lang, probe: false)
        let pool = try extract.pool()
        let labels = try labels(extract, language: lang)
        let concepts = sweep.concepts
        let k = sweep.config.expertise.k
        let units = units(task.checkpoint)
        var positives: [Int32] = [], ap: [Float] = [], p50: [Float] = [], p90: [Float] = [], off: [Float] = []
        var experts: [Int64] = []
        for (c, concept) in concepts.enumerated() {
            let pos = labels.indices.filter { labels[$0][c] }
            positives.append(Int32(pos.count))
            if pos.count < sweep.config.expertise.minPositives || pos.count == extract.sentences {
                ap += [Float](repeating: .nan, count: units.count)
                p50 += [Float](repeating: .nan, count: units.count)
                p90 += [Float](repeating: .nan, count: units.count)
                off += [Float](repeating: .nan, count: units.count)
                experts += [Int64](repeating: -1, count: k)
                continue
            }
            let e = try pool.expertise(positives: pos, concept: concept)
            ap += e.averagePrecision.map(Float.init)
            p50 += e.onP50.map(Float.init)
            p90 += e.onP90.map(Float.init)
            off += e.offMean.map(Float.init)
            let top = e.top(k).map { Int64(units.flat($0)!) }
            experts += top + [Int64](repeating: -1, count: k - top.count)
        }
        let fragment = ExpertiseFragment(positives: positives, averagePrecision: ap, onP50: p50, onP90: p90, offMean: off,
                                         experts: experts, units: units)
        try write(task) {
            try fragment.write(to: $0, concepts: concepts.count, k: k)
        }
    }
}
