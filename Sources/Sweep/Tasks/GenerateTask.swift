import Foundation
import Models
import Probing
import Store

/// Forced generation (checkpoint, concept, language): the language's experts for the concept held
/// at their forcing value at every position, `samples` continuations of the model's start token,
/// each with its identified language (index into the config's languages, −1 undetermined) and
/// whether the concept is present in it.
public struct GenerationFragment: Sendable {
    public var text: [String]
    public var language: [Int32]
    public var conceptPresent: [Int32]
    /// The flat unit indices forced.
    public var forcedUnits: [Int64]

    public func write(to w: HDF5Writer) throws {
        try w.write("text", strings: text)
        try w.write("language", ints: language, shape: [text.count])
        try w.write("concept_present", ints: conceptPresent, shape: [text.count])
        try w.write("forced_units", int64s: forcedUnits, shape: [forcedUnits.count])
    }

    public init(reading r: HDF5Reader, samples: Int) throws {
        text = try r.strings("text")
        guard text.count == samples else { throw SweepError("\(r.path): \(text.count) texts, the plan expects \(samples)") }
        language = try r.ints("language", shape: [samples]).map(Int32.init)
        conceptPresent = try r.ints("concept_present", shape: [samples]).map(Int32.init)
        forcedUnits = try r.ints("forced_units", shape: [nil])
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
        let tokenizer = m.tokenizer!
        let c = sweep.concepts.firstIndex(of: task.concept!)!
        let expertise = try readExpertise(task.checkpoint, task.language!)
        let experts = expertise.experts(concept: c, k: sweep.config.expertise.k)
        let units = expertise.units
        let values = expertise.values(sweep.config.generation.forcing)
        var forced: [HookSite: [(unit: Int, value: Float)]] = [:]
        for flat in experts {
            let id = units.unit(at: Int(flat))!
            forced[.mlpPost(id.layer), default: []].append((id.unit, values[c * units.count + Int(flat)]))
        }
        let g = sweep.config.generation
        let start = tokenizer.encode("")
        guard let prompt = start.isEmpty ? m.config.bosTokenId.map({ [$0] }) : start else {
            throw SweepError("\(sweep.directories[task.checkpoint]!): the tokenizer adds no start token and config.json has no "
                + "bos_token_id, so there is no prompt to generate from")
        }
        let lid = try languageIdentifier()
        var texts: [String] = [], languages: [Int32] = [], present: [Int32] = []
        let lexicon = ConceptLexicon(forms: data.lexicon[task.concept!] ?? [:])
        // All samples advance together (one forward per token over the batch); sample s uses seed + s.
        let samples = try Generator(model: m.model).generate(
            prompt: prompt, maxNewTokens: g.newTokens, sampling: SamplingOptions(temperature: g.temperature, topP: g.topP),
            seeds: (0..<g.samples).map { seed &+ UInt64($0) }, interventions: Interventions(forced))
        for ids in samples {
            let text = tokenizer.decode(ids)
            let id = lid.identify(text)
            texts.append(text)
            languages.append(id.language.flatMap { sweep.config.languages.firstIndex(of: $0) }.map(Int32.init) ?? -1)
            present.append(id.language.map { lexicon.isPresent(in: text, language: $0) ? 1 : 0 } ?? 0)
        }
        let fragment = GenerationFragment(text: texts, language: languages, conceptPresent: present, forcedUnits: experts)
        try store.write(task.id, inputs: inputs(task), read: ["expertise/\(task.checkpoint)/\(task.language!)"], provenance: provenance()) {
            try fragment.write(to: $0)
        }
    }
}
