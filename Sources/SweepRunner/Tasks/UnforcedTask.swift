import Foundation
import Models
import Probing
import Store
import SweepCore

/// Generation with nothing forced (checkpoint): `samples` continuations of the start token, each
/// with its identified language and, for every forced concept, whether the concept is present —
/// the base rate that forced cells and their controls are read against.
public struct UnforcedFragment: Sendable {
    public var text: [String]
    public var language: [Int32]
    /// [concept, sample], concepts in the plan's forced order.
    public var conceptPresent: [Int32]

    public func write(to w: HDF5Writer) throws {
        try w.write("text", strings: text)
        try w.write("language", ints: language, shape: [text.count])
        try w.write("concept_present", ints: conceptPresent, shape: [conceptPresent.count / max(1, text.count), text.count])
    }

    public init(reading r: HDF5Reader, samples: Int, concepts: Int) throws {
        text = try r.strings("text")
        guard text.count == samples else { throw SweepError("\(r.path): \(text.count) texts, the plan expects \(samples)") }
        language = try r.ints("language", shape: [samples]).map(Int32.init)
        conceptPresent = try r.ints("concept_present", shape: [concepts, samples]).map(Int32.init)
    }

    init(text: [String], language: [Int32], conceptPresent: [Int32]) {
        self.text = text
        self.language = language
        self.conceptPresent = conceptPresent
    }
}

extension TaskRunner {
    func unforced(_ task: SweepTask, seed: UInt64) throws {
        let m = try model(task.checkpoint)
        let outputs = try continuations(m, prompt: try generationPrompt(m, checkpoint: task.checkpoint), seed: seed,
                                        interventions: Interventions())
        let texts = outputs.map(\.text), identified = outputs.map(\.language), languages = outputs.map(\.index)
        var present: [Int32] = []
        for concept in sweep.forcedConcepts {
            let lexicon = ConceptLexicon(forms: data.lexicon[concept] ?? [:])
            for (text, language) in zip(texts, identified) {
                present.append(language.map { lexicon.isPresent(in: text, language: $0) ? 1 : 0 } ?? 0)
            }
        }
        let fragment = UnforcedFragment(text: texts, language: languages, conceptPresent: present)
        try write(task) { try fragment.write(to: $0) }
    }
}
