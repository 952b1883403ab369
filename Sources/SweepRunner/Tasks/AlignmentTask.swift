import Foundation
import Probing
import Store
import SweepCore

/// Cross-lingual alignment of one checkpoint's experts: per (concept, source language, target
/// language) the experts' overlap and its hypergeometric chance level (overall and per block),
/// and the source experts' mean AP on the target's sentences with its label-permutation baseline.
/// NaN where either language has no experts for the concept.
public struct AlignmentFragment: Sendable {
    /// `[concepts, languages, languages]`.
    public var overlap: [Float], chanceOverlap: [Float], crossAP: [Float], crossAPBaseline: [Float]
    /// `[concepts, blocks, languages, languages]`.
    public var overlapPerLayer: [Float], chanceOverlapPerLayer: [Float]

    public func write(to w: HDF5Writer, concepts C: Int, languages L: Int, blocks: Int) throws {
        try w.write("overlap", floats: overlap, shape: [C, L, L])
        try w.write("overlap_per_layer", floats: overlapPerLayer, shape: [C, blocks, L, L])
        try w.write("chance_overlap_per_layer", floats: chanceOverlapPerLayer, shape: [C, blocks, L, L])
        try w.write("chance_overlap", floats: chanceOverlap, shape: [C, L, L])
        try w.write("cross_ap", floats: crossAP, shape: [C, L, L])
        try w.write("cross_ap_baseline", floats: crossAPBaseline, shape: [C, L, L])
    }

    public init(reading r: HDF5Reader, concepts C: Int, languages L: Int, blocks: Int) throws {
        overlap = try r.floats("overlap", shape: [C, L, L])
        chanceOverlap = try r.floats("chance_overlap", shape: [C, L, L])
        crossAP = try r.floats("cross_ap", shape: [C, L, L])
        crossAPBaseline = try r.floats("cross_ap_baseline", shape: [C, L, L])
        overlapPerLayer = try r.floats("overlap_per_layer", shape: [C, blocks, L, L])
        chanceOverlapPerLayer = try r.floats("chance_overlap_per_layer", shape: [C, blocks, L, L])
    }

    init(concepts C: Int, languages L: Int, blocks: Int) {
        overlap = [Float](repeating: .nan, count: C * L * L)
        chanceOverlap = overlap
        crossAP = overlap
        crossAPBaseline = overlap
        overlapPerLayer = [Float](repeating: .nan, count: C * blocks * L * L)
        chanceOverlapPerLayer = overlapPerLayer
    }
}

extension TaskRunner {
    func alignment(_ task: SweepTask, seed: UInt64) throws {
        let langs = sweep.config.languages, concepts = sweep.concepts
        let k = sweep.config.expertise.k
        let expertise = try langs.map { try readExpertise(task.checkpoint, $0) }
        let units = units(task.checkpoint)
        let L = langs.count, C = concepts.count, layers = units.layers.count
        var out = AlignmentFragment(concepts: C, languages: L, blocks: layers)
        let layerSizes = Dictionary(uniqueKeysWithValues: zip(units.layers, units.layerSizes).map { ($0, $1) })
        // Null draws per (concept, target language), shared by every source language. They are
        // read only at source experts, so each target ranks just the units some language chose
        // for one of its concepts (a few thousand of every layer's units); one target's
        // activations in memory at a time.
        let hasExperts = (0..<C).map { c in (0..<L).map { !expertise[$0].experts(concept: c, k: k).isEmpty } }
        var draws: [Int: [[Double]]] = [:]
        var subsets: [Int: UnitSubset] = [:]
        for b in 0..<L {
            let concepts = (0..<C).filter { hasExperts[$0][b] && hasExperts[$0].contains(true) }
            if concepts.isEmpty { continue }
            let members = concepts.flatMap { c in (0..<L).flatMap { expertise[$0].experts(concept: c, k: k).map { Int($0) } } }
            let extract = try readExtract(task.checkpoint, langs[b], probe: false)
            let subset = try UnitSubset(pooled: extract.pooled, units: units, sentences: extract.sentences, members: members)
            subsets[b] = subset
            for c in concepts {
                let key = c * L + b
                draws[key] = try Alignment.permutedAveragePrecision(subset: subset, positives: Int(expertise[b].positives[c]),
                                                                    permutations: sweep.config.permutations, seed: seed &+ UInt64(key))
            }
        }
        for c in 0..<C {
            for a in 0..<L {
                let ea = expertise[a].experts(concept: c, k: k).map { units.unit(at: Int($0))! }
                if ea.isEmpty { continue }
                for b in 0..<L {
                    let eb = expertise[b].experts(concept: c, k: k).map { units.unit(at: Int($0))! }
                    if eb.isEmpty { continue }
                    let i = (c * L + a) * L + b
                    let o = Alignment.overlap(ea, eb, k: k)
                    out.overlap[i] = Float(o.overall)
                    let expected = Alignment.chanceOverlap(ea, eb, k: k, layerSizes: layerSizes)
                    out.chanceOverlap[i] = Float(expected.overall)
                    for l in 0..<layers {
                        out.overlapPerLayer[((c * layers + l) * L + a) * L + b] = Float(o.perLayer[l] ?? 0)
                        out.chanceOverlapPerLayer[((c * layers + l) * L + a) * L + b] = Float(expected.perLayer[l] ?? 0)
                    }
                    let apB = expertise[b].averagePrecision[(c * units.count)..<((c + 1) * units.count)]
                    out.crossAP[i] = Float(ea.map { Double(apB[apB.startIndex + units.flat($0)!]) }.reduce(0, +) / Double(ea.count))
                    out.crossAPBaseline[i] = Float(Alignment.permutationBaseline(experts: ea, draws: draws[c * L + b]!,
                                                                                 subset: subsets[b]!))
                }
            }
        }
        try write(task) { try out.write(to: $0, concepts: C, languages: L, blocks: layers) }
    }
}
