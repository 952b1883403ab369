import ArgumentParser
import Foundation

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Token ids of each input sequence, one JSON line each: {\"ids\":[…]}.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var inputOptions: InputOptions

    @Flag(help: "Leave out the post-processor's special tokens (e.g. XGLM's leading </s>).")
    var noSpecialTokens = false

    func run() throws {
        let tokenizer = try modelOptions.tokenizerOnly()
        var out = Output()
        for text in try inputOptions.texts() {
            out.line("{\"ids\":" + JSON.ints(tokenizer.encode(text, addSpecialTokens: !noSpecialTokens)) + "}")
        }
        out.flush()
    }
}
