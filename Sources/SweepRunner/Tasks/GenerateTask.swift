import Foundation
import Models
import Probing
import Store
import SweepCore

/// Forced generation (checkpoint, concept, language): the language's experts for the concept held
/// at their forcing value at every position, `samples` continuations of the model's start token,
/// each with its identified language (index into the config's languages, −1 undetermined) and
/// whether the concept is present in it. Then its controls: `generation.controls` draws of random
/// units matched to the experts layer by layer (`ControlUnits`), each unit forced at its own
/// forcing value for the concept and language, with the same sampling seeds (a paired comparison).
public struct GenerationFragment: Sendable {
    public var text: [String]
    public var language: [Int32]
    public var conceptPresent: [Int32]
    /// The flat unit indices forced.
    public var forcedUnits: [Int64]
    /// Per control draw: its units, and its samples' texts, languages and concept presence (draw-major).
    public var controlUnits: [[Int64]] = []
    public var controlText: [String] = []
    public var controlLanguage: [Int32] = []
    public var controlConceptPresent: [Int32] = []

    public func write(to w: HDF5Writer) throws {
        try w.write("text", strings: text)
        try w.write("language", ints: language, shape: [text.count])
        try w.write("concept_present", ints: conceptPresent, shape: [text.count])
        try w.write("forced_units", int64s: forcedUnits, shape: [forcedUnits.count])
        let draws = controlUnits.count
        try w.write("control_units", int64s: controlUnits.flatMap { $0 }, shape: [draws, forcedUnits.count])
        try w.write("control_text", strings: controlText, shape: [draws, text.count])
        try w.write("control_language", ints: controlLanguage, shape: [draws, text.count])
        try w.write("control_concept_present", ints: controlConceptPresent, shape: [draws, text.count])
    }

    public init(reading r: HDF5Reader, samples: Int, controls: Int) throws {
        text = try r.strings("text")
        guard text.count == samples else { throw SweepError("\(r.path): \(text.count) texts, the plan expects \(samples)") }
        language = try r.ints("language", shape: [samples]).map(Int32.init)
        conceptPresent = try r.ints("concept_present", shape: [samples]).map(Int32.init)
        forcedUnits = try r.ints("forced_units", shape: [nil])
        let units = try r.ints("control_units", shape: [controls, forcedUnits.count])
        controlUnits = (0..<controls).map { Array(units[($0 * forcedUnits.count)..<(($0 + 1) * forcedUnits.count)]) }
        controlText = try r.strings("control_text")
        guard controlText.count == controls * samples else {
            throw SweepError("\(r.path): \(controlText.count) control texts, the plan expects \(controls) × \(samples)")
        }
        controlLanguage = try r.ints("control_language", shape: [controls, samples]).map(Int32.init)
        controlConceptPresent = try r.ints("control_concept_present", shape: [controls, samples]).map(Int32.init)
    }

    init(text: [String], language: [Int32], conceptPresent: [Int32], forcedUnits: [Int64]) {
        self.text = text
        self.language = language
        self.conceptPresent = conceptPresent
        self.forcedUnits = forcedUnits
    }
}

extension TaskRunner {
    func generate(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let c = sweep.concepts.firstIndex(of: task.concept!)!
        let expertise = try readExpertise(task.checkpoint, task.language!)
        let experts = expertise.experts(concept: c, k: sweep.config.expertise.k)
        let units = expertise.units
        let values = expertise.values(sweep.config.generation.forcing)
        /// Each unit held at its own forcing value for this concept and language.
        func forcing(_ flat: [Int64]) -> Interventions {
            var forced: [HookSite: [(unit: Int, value: Float)]] = [:]
            for f in flat {
                let id = units.unit(at: Int(f))!
                forced[.mlpPost(id.layer), default: []].append((id.unit, values[c * units.count + Int(f)]))
            }
            return Interventions(forced)
        }
        let g = sweep.config.generation
        let prompt = try generationPrompt(m, checkpoint: task.checkpoint)
        let lexicon = ConceptLexicon(forms: data.lexicon[task.concept!] ?? [:])
        func run(_ interventions: Interventions) throws -> (texts: [String], languages: [Int32], present: [Int32]) {
            let outputs = try continuations(m, prompt: prompt, seed: seed, interventions: interventions)
            return (outputs.map(\.text), outputs.map(\.index),
                    outputs.map { o in o.language.map { lexicon.isPresent(in: o.text, language: $0) ? 1 : 0 } ?? 0 })
        }
        let forced = try run(forcing(experts))
        var fragment = GenerationFragment(text: forced.texts, language: forced.languages, conceptPresent: forced.present, forcedUnits: experts)
        for draw in 0..<g.controls {
            let drawn = ControlUnits.draw(experts: experts, units: units,
                                          seed: SweepTask.seed(sweepSeed: sweep.config.seed, name: "\(task.id)/control/\(draw)"))
            let control = try run(forcing(drawn))
            fragment.controlUnits.append(drawn)
            fragment.controlText += control.texts
            fragment.controlLanguage += control.languages
            fragment.controlConceptPresent += control.present
        }
        try write(task) {
            try fragment.write(to: $0)
        }
    }
}

extension TaskRunner {
    /// The prompt a sweep's generation starts from: the tokenizer's start token, else config.json's bos_token_id.
    func generationPrompt(_ m: LoadedModel, checkpoint: String) throws -> [Int] {
        let start = m.tokenizer!.encode("")
        guard let prompt = start.isEmpty ? m.config.bosTokenId.map({ [$0] }) : start else {
            throw SweepError("\(sweep.directories[checkpoint]!): the tokenizer adds no start token and config.json has no "
                + "bos_token_id, so there is no prompt to generate from")
        }
        return prompt
    }

    /// `generation.samples` continuations of `prompt` under `interventions`, all advancing together
    /// (one forward per token over the batch; sample s drawn with seed + s), decoded, each with its
    /// identified language (and that language's index among the sweep's, −1 undetermined).
    func continuations(_ m: LoadedModel, prompt: [Int], seed: UInt64, interventions: Interventions) throws
        -> [(text: String, language: String?, index: Int32)] {
        let g = sweep.config.generation
        let lid = try languageIdentifier()
        let samples = try Generator(model: m.model).generate(
            prompt: prompt, maxNewTokens: g.newTokens, sampling: SamplingOptions(temperature: g.temperature, topP: g.topP),
            seeds: (0..<g.samples).map { seed &+ UInt64($0) }, interventions: interventions)
        return samples.map { ids in
            let text = m.tokenizer!.decode(ids)
            let language = lid.identify(text).language
            return (text, language, language.flatMap { sweep.config.languages.firstIndex(of: $0) }.map(Int32.init) ?? -1)
        }
    }
}
