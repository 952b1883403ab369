import ArgumentParser
import Foundation
import Models
import Store

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Activations at hook sites for each input sequence, as JSON lines or one HDF5 file.",
        discussion: """
            Sites: hidden.L (transformers' output_hidden_states[L], L = 0…n_layers) and blocks.L.{resid_pre,\
            attn_out,mlp_post,mlp_out,resid_post}; '*' stands for every layer, e.g. hidden.*,blocks.*.mlp_post.
            JSON lines: {"ids":[…],"sites":{"hidden.0":[[…per token…]],…}}, in input order.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOptions
    @OptionGroup var inputOptions: InputOptions

    @Option(help: "Comma list of hook sites; '*' for the layer.")
    var sites: String

    @Option(help: "Write one HDF5 file (datasets activations/<site> [token, unit]).")
    var out: String?

    @Option(help: "Output format: jsonl (to stdout) or hdf5 (needs --out).")
    var format: String?

    @Option(help: "Sequences per forward pass.")
    var batchSize = 8

    @Flag(help: "Leave out the post-processor's special tokens.")
    var noSpecialTokens = false

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        switch (format, out) {
        case ("jsonl", nil), ("hdf5", .some), (nil, .some): break
        case ("jsonl", .some): throw ValidationError("--format jsonl writes to stdout; leave out --out")
        case (nil, nil): throw ValidationError("give --out FILE.h5 or --format jsonl")
        case ("hdf5", nil): throw ValidationError("--format hdf5 needs --out FILE.h5")
        default: throw ValidationError("--format must be jsonl or hdf5")
        }
    }

    func run() throws {
        let loaded = try modelOptions.load(precision: precision)
        let tokenizer = try modelOptions.tokenizer(of: loaded)
        let siteList = try HookSite.expand(sites, config: loaded.config).sorted()
        let texts = try inputOptions.texts()
        let ids = texts.map { tokenizer.encode($0, addSpecialTokens: !noSpecialTokens) }
        logPrecision(loaded)
        if let out {
            try writeHDF5(out, loaded: loaded, sites: siteList, texts: texts, ids: ids)
        } else {
            try writeJSONLines(loaded: loaded, sites: siteList, ids: ids)
        }
    }

    /// Forward passes over batches of non-empty sequences, in input order.
    func batches(_ ids: [[Int]], _ body: ([Int], ForwardResult) throws -> Void, model: any LanguageModel,
                 sites: [HookSite]) throws {
        let indices = ids.indices.filter { !ids[$0].isEmpty }
        for start in stride(from: 0, to: indices.count, by: batchSize) {
            let chunk = Array(indices[start..<min(indices.count, start + batchSize)])
            let result = try model.forward(chunk.map { ids[$0] }, request: ForwardRequest(sites: Set(sites)))
            try body(chunk, result)
        }
    }

    func writeJSONLines(loaded: LoadedModel, sites: [HookSite], ids: [[Int]]) throws {
        var lines = [String?](repeating: nil, count: ids.count)
        var out = Output()
        var next = 0
        func emitReady() {
            while next < ids.count {
                if ids[next].isEmpty {
                    out.line("{\"ids\":[],\"sites\":{" + sites.map { JSON.string($0.description) + ":[]" }.joined(separator: ",") + "}}")
                } else if let line = lines[next] {
                    out.line(line)
                    lines[next] = nil
                } else {
                    return
                }
                next += 1
            }
        }
        try batches(ids, { chunk, result in
            for (b, index) in chunk.enumerated() {
                let fields = sites.map { site -> String in
                    let width = site.width(loaded.config)
                    let rows = result.rows(site, sequence: b, width: width)
                    return JSON.string(site.description) + ":[" + rows.map { JSON.floats($0[...]) }.joined(separator: ",") + "]"
                }
                lines[index] = "{\"ids\":" + JSON.ints(ids[index]) + ",\"sites\":{" + fields.joined(separator: ",") + "}}"
            }
            emitReady()
        }, model: loaded.model, sites: sites)
        emitReady()
        out.flush()
    }

    func writeHDF5(_ path: String, loaded: LoadedModel, sites: [HookSite], texts: [String], ids: [[Int]]) throws {
        var activations: [HookSite: [Float]] = [:]
        try batches(ids, { _, result in
            for site in sites { activations[site, default: []] += result.activations[site] ?? [] }
        }, model: loaded.model, sites: sites)
        let tokens = ids.flatMap { $0 }
        let n = tokens.count
        var offsets: [Int64] = [0]
        for s in ids { offsets.append(offsets.last! + Int64(s.count)) }
        let file = try HDF5Writer(creating: path)
        try file.write("token", int64s: (0..<n).map(Int64.init), shape: [n])
        try file.makeScale("token", dimension: "token")
        try file.write("sequence_index", int64s: (0..<ids.count).map(Int64.init), shape: [ids.count])
        try file.makeScale("sequence_index", dimension: "sequence")
        // One unit axis per width: d_model sites and d_mlp sites differ.
        for width in Set(sites.map { $0.width(loaded.config) }).sorted() {
            try file.write("unit_\(width)", int64s: (0..<width).map(Int64.init), shape: [width])
            try file.makeScale("unit_\(width)", dimension: "unit")
        }
        try file.write("ids", ints: tokens.map(Int32.init), shape: [n], dimensions: ["token"])
        try file.write("sequence", ints: ids.enumerated().flatMap { s, t in t.map { _ in Int32(s) } }, shape: [n],
                       dimensions: ["token"])
        try file.write("position", ints: ids.flatMap { $0.indices.map(Int32.init) }, shape: [n], dimensions: ["token"])
        try file.write("offsets", int64s: offsets, shape: [offsets.count])
        try file.write("text", strings: texts, dimensions: ["sequence_index"])
        try file.createGroup("activations")
        for site in sites {
            let width = site.width(loaded.config)
            let name = "activations/\(site)"
            try file.write(name, floats: activations[site] ?? [], shape: [n, width], chunk: [256, width],
                           dimensions: ["token", "unit_\(width)"])
            try file.setAttribute("hook_site", site.description, on: name)
        }
        try file.setAttribute("model", modelOptions.model)
        try file.setAttribute("revision", modelOptions.revision ?? "")
        try file.setAttribute("directory", loaded.directory)
        try file.setAttribute("architecture", loaded.config.architecture.rawValue)
        try file.setAttribute("weights_fingerprint", loaded.fingerprint)
        try file.setAttribute("sites", sites.map(\.description).joined(separator: ","))
        try file.setAttribute("tool_version", "xlsweep \(XLSweep.version)")
        try file.close()
        FileHandle.standardError.write(Data("wrote \(path): \(ids.count) sequences, \(n) tokens, \(sites.count) sites\n".utf8))
    }
}
