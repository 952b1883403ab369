import ArgumentParser
import Foundation
import Models

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a checkpoint's architecture, sizes, dtypes, parameter count and weights fingerprint.")

    @Argument(help: "Checkpoint directory or Hugging Face repo id.")
    var model: String

    @Option(help: "Revision of a Hugging Face repo id.")
    var revision: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        // The files and the architecture's weight table are enough: the model is not built.
        let loaded = try CheckpointFiles.open(model, revision: revision)
        let precisionNote = LoadedModel.choosePrecision(.auto, fp32Bytes: loaded.fp32Bytes).1
        let c = loaded.config
        let dtypes = loaded.weights.dtypes.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value) tensors)" }
        let fields: [(String, String)] = [
            ("directory", loaded.directory),
            ("architecture", c.architecture.rawValue),
            ("layers", "\(c.nLayers)"),
            ("d_model", "\(c.dModel)"),
            ("heads", c.nKVHeads == c.nHeads ? "\(c.nHeads)" : "\(c.nHeads) (key/value \(c.nKVHeads), width \(c.headDim))"),
            ("d_mlp", "\(c.dMLP)"),
            ("vocab", "\(c.vocabSize)"),
            ("dtype", dtypes.joined(separator: ", ")),
            ("parameters", "\(loaded.parameterCount)"),
            ("files", loaded.weights.files.joined(separator: ", ")),
            ("tokenizer", loaded.tokenizer.map { "tokenizer.json (\($0.vocabularySize) tokens)" } ?? "none"),
            ("fingerprint", loaded.fingerprint),
            ("precision", precisionNote),
        ]
        var out = Output()
        if json {
            out.line("{" + fields.map { JSON.string($0.0) + ":" + (Int($0.1) != nil ? $0.1 : JSON.string($0.1)) }
                .joined(separator: ",") + "}")
        } else {
            for (k, v) in fields { out.line(k.padding(toLength: 13, withPad: " ", startingAt: 0) + v) }
        }
        out.flush()
    }
}
