import ArgumentParser
import Foundation
import Models

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt (default: the start token alone), optionally forcing units: {\"ids\":[…],\"text\":\"…\"}.",
        discussion: """
            Sampling uses SplitMix64 seeded with --seed: the same seed gives the same text on any machine.
            --force SITE:UNIT=VALUE,… sets units of hook sites at every position, prompt and generated tokens,
            e.g. --force blocks.12.mlp_post:311=1.25,blocks.12.mlp_post:2048=0.4
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var precision: PrecisionOptions

    @Option(help: "Prompt text (default: the start token alone: what the tokenizer puts before any text, else bos_token_id).")
    var prompt: String?

    @Option(help: "Seed of the sampling stream.")
    var seed: UInt64 = 0

    @Option(help: "Tokens to generate.")
    var maxNewTokens = 20

    @Option(help: "Softmax temperature.")
    var temperature: Double = 1.0

    @Option(help: "Nucleus sampling: keep the most likely tokens up to this total probability.")
    var topP: Double = 1.0

    @Option(help: "Keep only the K most likely tokens (0: all).")
    var topK = 0

    @Flag(help: "Always take the most likely token.")
    var greedy = false

    @Option(help: "Units to force: SITE:UNIT=VALUE, comma separated.")
    var force: String?

    @Flag(help: "Keep going past the end-of-sequence token.")
    var ignoreEos = false

    @Flag(help: "Recompute the whole sequence at each step instead of using the KV cache (for checking).")
    var noCache = false

    func validate() throws {
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be ≥ 0") }
        guard temperature > 0 || greedy else { throw ValidationError("--temperature must be > 0 (or use --greedy)") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
    }

    /// Parses `SITE:UNIT=VALUE,…`.
    static func parseForce(_ text: String, config: ModelConfig) throws -> Interventions {
        var values: [HookSite: [(unit: Int, value: Float)]] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            let target = parts.first.map { $0.split(separator: ":", maxSplits: 1) } ?? []
            guard parts.count == 2, target.count == 2, let unit = Int(target[1]), let value = Float(parts[1]) else {
                throw UserError("--force: '\(item)' is not SITE:UNIT=VALUE")
            }
            guard let site = HookSite(String(target[0])) else {
                throw UserError("--force: \(HookSiteError.malformed(String(target[0])))")
            }
            values[site, default: []].append((unit, value))
        }
        let interventions = Interventions(values)
        try interventions.validate(config)
        return interventions
    }

    func run() throws {
        let loaded = try modelOptions.load(precision: precision, hashEarly: false)   // generate records no fingerprint
        let tokenizer = try modelOptions.tokenizer(of: loaded)
        let promptIds: [Int]
        if let prompt {
            promptIds = tokenizer.encode(prompt)
        } else if case let start = tokenizer.encode(""), !start.isEmpty {
            promptIds = start   // the post-processor's start token, e.g. XGLM's </s>
        } else if let bos = loaded.config.bosTokenId {
            promptIds = [bos]
        } else {
            throw UserError("\(loaded.directory)/config.json has no bos_token_id; give --prompt")
        }
        let interventions = try force.map { try Self.parseForce($0, config: loaded.config) } ?? Interventions()
        let sampling = SamplingOptions(greedy: greedy, temperature: temperature, topK: topK, topP: topP)
        logPrecision(loaded)
        let ids = try Generator(model: loaded.model).generate(
            prompt: promptIds, maxNewTokens: maxNewTokens, sampling: sampling, seed: seed, interventions: interventions,
            stopToken: ignoreEos ? nil : loaded.config.eosTokenId, useCache: !noCache)
        var out = Output()
        out.line("{\"ids\":" + JSON.ints(ids) + ",\"text\":" + JSON.string(tokenizer.decode(ids))
            + ",\"prompt_ids\":" + JSON.ints(promptIds) + "}")
        out.flush()
    }
}
