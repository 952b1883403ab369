import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Models

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Forced generation as a sweep's generate task runs it (batched samples, units forced), against the FMA peak.",
        discussion: """
            Default: a random-weight BLOOM-560m-shaped model with a 262,144-token vocabulary (Gemma 3's, the
            closest to BLOOM's 250,880 that exists offline), 500 MLP units forced, 100 samples × 20 new tokens
            from a one-token prompt, temperature 0.8, top-p 0.9: one (checkpoint, concept, language) cell of
            the paper's sweep. Prints the seconds in forwards and in sampling, the model FLOPs (from the
            weight table) and their share of the peak measured in the same run (`bench peak`).
            --reference also times the specification's comparison-sort sampler on the same logits and checks that
            both choose the same tokens.
            """)

    @Option(help: "Transformer blocks.") var layers = 24
    @Option(help: "Model width.") var hidden = 1024
    @Option(help: "Attention heads.") var heads = 16
    @Option(help: "Vocabulary size.") var vocab = 262_144
    @Option(help: "Samples advanced together.") var samples = 100
    @Option(help: "New tokens per sample.") var newTokens = 20
    @Option(help: "MLP units forced (spread over the layers, seeded).") var forced = 500
    @Option(help: "Weight precision: fp32 or bf16.") var dtype: WeightPrecision = .fp32
    @Flag(help: "Also time the comparison-sort sampler (chooseReference) and check it picks the same tokens.") var reference = false

    func validate() throws {
        guard layers > 0, hidden > 0, heads > 0, hidden % heads == 0, vocab > 1, samples > 0, newTokens > 0, forced >= 0 else {
            throw ValidationError("sizes must be positive and --heads must divide --hidden")
        }
    }

    func run() throws {
        let config = try ModelConfig(json: ["model_type": "bloom", "vocab_size": vocab, "hidden_size": hidden,
                                            "n_layer": layers, "n_head": heads, "bos_token_id": 1], path: "<bench>")
        let model = try LoadedModel.random(config, seed: 1, precision: dtype)
        let peakBefore = PeakRates.measure()   // and after: the higher of each (`PeakRates.higher`)
        var rng = SplitMix64(seed: 3)
        var units: [HookSite: [(unit: Int, value: Float)]] = [:]
        var chosen = Set<Int>()
        while chosen.count < min(forced, layers * config.dMLP) { chosen.insert(Int(rng.next() % UInt64(layers * config.dMLP))) }
        for flat in chosen.sorted() {
            units[.mlpPost(flat / config.dMLP), default: []].append((flat % config.dMLP, Float(rng.nextUniform() * 2)))
        }
        let sampling = SamplingOptions(temperature: 0.8, topP: 0.9)
        print("xlsweep bench generate: BLOOM shape, \(layers) layers, d_model \(hidden), vocab \(vocab), \(dtype); "
            + "\(samples) samples × \(newTokens) tokens, \(chosen.count) units forced; \(kernelThreads) threads; \(CPUName.current)")
        fflush(nil)
        let profile = GenerationProfile()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let out = try Generator(model: model).generate(prompt: [1], maxNewTokens: newTokens, sampling: sampling,
                                                       seeds: (0..<samples).map(UInt64.init), interventions: Interventions(units),
                                                       profile: profile)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let peak = PeakRates.measure().higher(peakBefore)
        let flops = FLOPCount(config).generation(samples: samples, prompt: 1, newTokens: newTokens)
        let isBF16 = dtype == .bf16
        print("".padding(toLength: 28, withPad: " ", startingAt: 0) + "seconds".leftPad(10) + "GFLOP/s".leftPad(10) + "% of peak".leftPad(11))
        func row(_ label: String, _ seconds: Double, _ work: Double?) {
            let rate = work.map { $0 / seconds / 1e9 }
            print(label.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%.2f", seconds).leftPad(10)
                + (rate.map { String(format: "%.1f", $0) } ?? "").leftPad(10) + (rate.map { peak.share($0, bf16: isBF16) } ?? "").leftPad(11))
        }
        row("forwards", profile.forwardSeconds, flops)
        row("sampling", profile.samplingSeconds, nil)
        row("generation (model FLOPs)", wall, flops)
        print(String(format: "model FLOPs %.1f G (weight table); peak of %@ products %.1f GFLOP/s (bench peak, this run)",
                     flops / 1e9, dtype.rawValue, peak.peak(bf16: isBF16)))
        if reference { try compareReference(model: model, units: units, sampling: sampling, generated: out) }
    }

    /// Replays the first sample's steps with the comparison-sort sampler: same tokens, and its time.
    func compareReference(model: any LanguageModel, units: [HookSite: [(unit: Int, value: Float)]], sampling: SamplingOptions,
                          generated: [[Int]]) throws {
        let request = ForwardRequest(interventions: Interventions(units), logits: .lastPosition)
        let cache = model.makeCache()
        var fast = SplitMix64(seed: 0), plain = SplitMix64(seed: 0)
        var workspace = SamplingWorkspace()
        defer { workspace.release() }
        var pending = [1], fastSeconds = 0.0, plainSeconds = 0.0, same = 0
        for step in 0..<generated[0].count {
            let logits = try model.forward([pending], caches: [cache], request: request).logits
            let t0 = DispatchTime.now().uptimeNanoseconds
            let a = logits.withUnsafeBufferPointer { sampling.choose($0, rng: &fast, workspace: &workspace) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let b = sampling.chooseReference(logits[...], rng: &plain)
            let t2 = DispatchTime.now().uptimeNanoseconds
            fastSeconds += Double(t1 - t0) / 1e9
            plainSeconds += Double(t2 - t1) / 1e9
            if a == b { same += 1 }
            pending = [generated[0][step]]
        }
        let steps = generated[0].count
        print(String(format: "sampler per token over %d logits: %.2f ms (weight histogram), %.2f ms (comparison sort); same token %d of %d; at most %d tokens ordered",
                     model.config.vocabSize, 1000 * fastSeconds / Double(steps), 1000 * plainSeconds / Double(steps), same, steps,
                     workspace.largestBoundaryBucket))
    }
}
