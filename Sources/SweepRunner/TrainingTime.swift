import Foundation
import SweepCore

/// Where in training a checkpoint lies, as published series name their branches and repos:
/// `step1000` (Pythia), `global_step1000` (BLOOM), `step1000-tokens4B` and
/// `stage1-step1000-tokens5B` (OLMo 1 and 2), `ckpt_358` (LLM360 Amber), `100B` (Viking's token
/// counts), `step-480k-token-1007B` and `…-intermediate-step-1431k-3T` (TinyLlama), or a bare number.
public struct TrainingTime: Sendable, Equatable, Comparable {
    /// The training stage (OLMo 2's `stage2-ingredient1-step…`, whose steps restart), when stated.
    public let stage: Int?
    /// The optimizer step, when the name states one.
    public let step: Int?
    /// Tokens seen, when the name states them (`5B` = 5·10⁹).
    public let tokens: Double?

    public init(step: Int?, tokens: Double?, stage: Int? = nil) {
        self.step = step
        self.tokens = tokens
        self.stage = stage
    }

    public init(name: String) {
        let lower = name.lowercased()
        func groups(_ pattern: String) -> [String]? {
            guard let re = try? NSRegularExpression(pattern: pattern),
                  let m = re.matches(in: lower, range: NSRange(lower.startIndex..., in: lower)).last else { return nil }
            return (0..<m.numberOfRanges).map { i in Range(m.range(at: i), in: lower).map { String(lower[$0]) } ?? "" }
        }
        func scaled(_ digits: String, _ suffix: String) -> Double? {
            guard let v = Double(digits) else { return nil }
            switch suffix {
            case "k": return v * 1e3
            case "m": return v * 1e6
            case "b": return v * 1e9
            case "t": return v * 1e12
            default: return v
            }
        }
        var step: Int?
        if let g = groups("step[-_]?([0-9]+)(k?)(?![0-9])") {
            step = scaled(g[1], g[2]).map { Int($0) }
        } else if let g = groups("ckpt[-_]?([0-9]+)") {
            step = Int(g[1])
        } else if lower.allSatisfy({ $0.isASCII && $0.isNumber }) {
            step = Int(lower)
        }
        var tokens: Double?
        if let g = groups("tokens?[-_]?([0-9]+(?:\\.[0-9]+)?)([kmbt])") {
            tokens = scaled(g[1], g[2])
        } else if let g = groups("(?:^|[-_])([0-9]+(?:\\.[0-9]+)?)([bt])$") {
            tokens = scaled(g[1], g[2])   // a trailing token count: `100B`, `…-step-50k-105b`, `…-3T`
        }
        self.init(step: step, tokens: tokens, stage: groups("(?:^|[^a-z])stage([0-9]+)").flatMap { Int($0[1]) })
    }

    /// Whether the name says anything about training time.
    public var isKnown: Bool { step != nil || tokens != nil }

    /// Training order: by stage, then by step where both state one, else by tokens, known before unknown.
    public static func < (a: TrainingTime, b: TrainingTime) -> Bool {
        if (a.stage ?? 0) != (b.stage ?? 0) { return (a.stage ?? 0) < (b.stage ?? 0) }
        if let x = a.step, let y = b.step, x != y { return x < y }
        if let x = a.tokens, let y = b.tokens, x != y { return x < y }
        return a.isKnown && !b.isKnown
    }
}
