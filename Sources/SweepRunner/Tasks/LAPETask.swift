import Foundation
import Probing
import Store
import SweepCore

/// Language-specific neurons of one checkpoint by LAPE (`LanguageSpecificNeurons`): every MLP
/// unit's activation probability per language (positive `mlp_post` over the language's concept-pool
/// tokens), and which units LAPE's selection makes specific to which language.
public struct LAPEFragment: Sendable {
    /// `[languages, units]`.
    public var activationProbability: [Double]
    /// `[languages, units]`: 1 where the unit is specific to the language.
    public var languageSpecific: [Int32]
    /// The selection's two quantiles of all probabilities.
    public var filterValue: Double, activationBar: Double

    public func write(to w: HDF5Writer, languages L: Int, units: Int) throws {
        try w.write("activation_probability", doubles: activationProbability, shape: [L, units], chunk: [1, units])
        try w.write("language_specific", ints: languageSpecific, shape: [L, units], chunk: [1, units])
        try w.write("thresholds", doubles: [filterValue, activationBar], shape: [2])
    }

    public init(reading r: HDF5Reader, languages L: Int, units: Int) throws {
        activationProbability = try r.doubles("activation_probability", shape: [L, units])
        languageSpecific = try r.ints("language_specific", shape: [L, units]).map(Int32.init)
        let t = try r.doubles("thresholds", shape: [2])
        (filterValue, activationBar) = (t[0], t[1])
    }

    init(probabilities: [[Double]], selection: LanguageSpecificNeurons.Selection) {
        activationProbability = probabilities.flatMap { $0 }
        languageSpecific = selection.specific.flatMap { $0.map { $0 ? 1 : 0 } }
        filterValue = selection.filterValue
        activationBar = selection.activationBar
    }
}

extension TaskRunner {
    func lape(_ task: SweepTask) throws {
        let model = sweep.modelConfigs[task.checkpoint]!
        var probabilities: [[Double]] = []
        for lang in sweep.config.languages {
            let id = SweepTask.extract(task.checkpoint, lang).id
            let (active, tokens) = try ExtractFragment.activationCounts(try store.reader(id), model: model)
            guard tokens > 0 else { throw SweepError("language \(lang): no pool tokens to count activations over") }
            probabilities.append(active.map { Double($0) / Double(tokens) })
        }
        let selection = LanguageSpecificNeurons.select(probabilities: probabilities, options: sweep.config.lape)
        let fragment = LAPEFragment(probabilities: probabilities, selection: selection)
        try write(task) {
            try fragment.write(to: $0, languages: sweep.config.languages.count, units: model.nLayers * model.dMLP)
        }
    }
}
