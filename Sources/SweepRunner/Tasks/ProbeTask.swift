import Foundation
import Probing
import Store
import SweepCore

/// One layer's language-ID probe (checkpoint, layer): per seed, held-out accuracy, the confusion
/// matrix, the optimiser's iterations and convergence, and the held-out rows it was scored on
/// (rows of the languages' probe tokens stacked in config order).
public struct ProbeFragment: Sendable {
    public var accuracy: [Double]
    /// `[seeds, languages, languages]`: true language × predicted language.
    public var confusion: [Int32]
    public var iterations: [Int32]
    public var converged: [Int32]
    /// `[seeds, test rows]`.
    public var testRows: [Int64]

    public var seeds: Int { accuracy.count }

    public init(_ result: LanguageProbe) {
        accuracy = result.accuracies
        confusion = result.results.flatMap { $0.confusion.flatMap { $0.map(Int32.init) } }
        iterations = result.results.map { Int32($0.iterations) }
        converged = result.results.map { $0.converged ? 1 : 0 }
        testRows = result.results.flatMap { $0.test.map(Int64.init) }
    }

    public func write(to w: HDF5Writer, languages k: Int) throws {
        try w.write("accuracy", doubles: accuracy, shape: [seeds])
        try w.write("confusion", ints: confusion, shape: [seeds, k, k])
        try w.write("iterations", ints: iterations, shape: [seeds])
        try w.write("converged", ints: converged, shape: [seeds])
        try w.write("test_rows", int64s: testRows, shape: [seeds, testRows.count / max(seeds, 1)])
    }

    public init(reading r: HDF5Reader, seeds: Int, languages k: Int) throws {
        accuracy = try r.doubles("accuracy", shape: [seeds])
        confusion = try r.ints("confusion", shape: [seeds, k, k]).map(Int32.init)
        iterations = try r.ints("iterations", shape: [seeds]).map(Int32.init)
        converged = try r.ints("converged", shape: [seeds]).map(Int32.init)
        testRows = try r.ints("test_rows", shape: [seeds, nil])
    }
}

extension TaskRunner {
    func probe(_ task: SweepTask, seed: UInt64) throws {
        let layer = task.layer!
        var features: [Float] = [], labels: [Int] = []
        let model = sweep.modelConfigs[task.checkpoint]!
        for (li, lang) in sweep.config.languages.enumerated() {
            let id = SweepTask.extract(task.checkpoint, lang).id
            let r = try store.reader(id)
            let tokens = try r.ints("probe/token_id", shape: [nil]).count
            features += try r.floats("probe/hidden.\(layer)", shape: [tokens, model.dModel])
            labels += [Int](repeating: li, count: tokens)
        }
        let p = sweep.config.probe
        let seeds = (0..<p.seeds).map { seed &+ UInt64($0) }
        let result = try LanguageProbe.run(features: features, labels: labels, classes: sweep.config.languages.count,
                                           seeds: seeds, testFraction: p.testFraction,
                                           options: .init(c: p.c, maxIterations: p.maxIterations))
        let fragment = ProbeFragment(result)
        try write(task) { try fragment.write(to: $0, languages: sweep.config.languages.count) }
    }
}
