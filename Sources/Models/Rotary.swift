import Checkpoints
import Foundation

/// Rotary position embedding of one kind of layer (Su et al. 2021): the θ base, how the
/// frequencies are rescaled for longer contexts, and the fraction of each head that rotates.
public struct RotaryParameters: Sendable, Equatable {
    public enum Scaling: Sendable, Equatable {
        /// rope_type "default".
        case none
        /// rope_type "linear": positions divided by `factor` (inverse frequencies divided by it).
        case linear(factor: Double)
        /// rope_type "llama3" (Llama 3.1): low frequencies divided by `factor`, high ones kept, the
        /// band between interpolated (transformers' `_compute_llama3_parameters`).
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    }

    public let theta: Double
    public let scaling: Scaling
    /// Rotated share of each head (GPT-NeoX's `rotary_pct`); 1 elsewhere.
    public let partialFactor: Double

    public init(theta: Double, scaling: Scaling = .none, partialFactor: Double = 1) {
        self.theta = theta
        self.scaling = scaling
        self.partialFactor = partialFactor
    }

    /// Reads transformers 5's flat `rope_parameters` {rope_type, rope_theta, factor, …}, or the older
    /// `rope_theta` + `rope_scaling` {type|rope_type, factor, …}. `thetaKeys` are older spellings of the base.
    static func read(_ json: [String: Any], path: String, defaultTheta: Double, thetaKeys: [String] = [],
                     partialFactor: Double = 1, maxPositions: Int) throws -> RotaryParameters {
        let key: String
        var p: [String: Any]
        if let parameters = json["rope_parameters"] as? [String: Any] {
            (key, p) = ("rope_parameters", parameters)
        } else {
            (key, p) = ("rope_scaling", json["rope_scaling"] as? [String: Any] ?? [:])
            for k in ["rope_theta"] + thetaKeys { if let t = json[k] as? NSNumber, p["rope_theta"] == nil { p["rope_theta"] = t } }
        }
        func number(_ k: String) -> Double? { (p[k] as? NSNumber)?.doubleValue }
        let theta = number("rope_theta") ?? defaultTheta
        let partial = number("partial_rotary_factor") ?? partialFactor
        guard theta > 0, partial > 0, partial <= 1 else {
            throw CheckpointError.badConfig(path: path, key: key, detail: "rope_theta must be > 0 and partial_rotary_factor in (0, 1]")
        }
        func factor() throws -> Double {
            guard let f = number("factor"), f > 0 else {
                throw CheckpointError.badConfig(path: path, key: key + ".factor", detail: "scaling needs a factor > 0")
            }
            return f
        }
        switch p["rope_type"] as? String ?? p["type"] as? String ?? "default" {
        case "default": return RotaryParameters(theta: theta, partialFactor: partial)
        case "linear": return RotaryParameters(theta: theta, scaling: .linear(factor: try factor()), partialFactor: partial)
        case "llama3":
            let low = number("low_freq_factor") ?? 1, high = number("high_freq_factor") ?? 4
            guard high > low else {
                throw CheckpointError.badConfig(path: path, key: key, detail: "llama3 scaling needs high_freq_factor > low_freq_factor")
            }
            let original = (p["original_max_position_embeddings"] as? Int) ?? maxPositions
            return RotaryParameters(theta: theta, scaling: .llama3(factor: try factor(), lowFrequencyFactor: low,
                                                                   highFrequencyFactor: high, originalContext: original),
                                    partialFactor: partial)
        case let other:
            throw CheckpointError.badConfig(path: path, key: key, detail: "rope_type '\(other)' is not supported (default, linear, llama3)")
        }
    }
}

/// Rotary position embedding in transformers' "rotate half" layout: of each head's first R
/// dimensions (R = D · partial factor), dimension i < R/2 pairs with i + R/2, rotated by
/// position · f_i with f_i = θ^(−2i/R) rescaled as the parameters say; the rest pass through —
/// as `*RotaryEmbedding` + `apply_rotary_pos_emb`, in fp32.
struct Rotary: Sendable {
    let inverseFrequency: [Float]
    let headDim: Int

    init(_ p: RotaryParameters, headDim: Int) {
        self.headDim = headDim
        let dim = Int(Double(headDim) * p.partialFactor)
        // inv_freq = 1 / θ^(arange(0, R, 2) / R), each step in fp32 like torch.
        let base = stride(from: 0, to: dim - 1, by: 2).map { i in 1 / powf(Float(p.theta), Float(i) / Float(dim)) }
        switch p.scaling {
        case .none: inverseFrequency = base
        case .linear(let factor): inverseFrequency = base.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            let f = Float(factor), lowWave = Float(Double(original) / low), highWave = Float(Double(original) / high)
            inverseFrequency = base.map { inv in
                let wavelength = Float(2 * Double.pi) / inv
                let scaled = wavelength > lowWave ? inv / f : inv
                guard !(wavelength < highWave) && !(wavelength > lowWave) else { return scaled }
                let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
                return (1 - smooth) * scaled / f + smooth * scaled
            }
        }
    }

    /// cos and sin of position · inverse frequency, the R/2 angles of `position`.
    func angles(position: Int, cos: inout [Float], sin: inout [Float]) {
        for i in inverseFrequency.indices {
            let angle = Float(position) * inverseFrequency[i]
            cos[i] = Foundation.cos(angle)
            sin[i] = Foundation.sin(angle)
        }
    }

    /// Rotates `heads` head vectors of width D at `x` (consecutive) by the angles of one position.
    func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, cos: [Float], sin: [Float]) {
        let half = inverseFrequency.count
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<half {
                let a = v[i], b = v[i + half]
                v[i] = a * cos[i] + (-b) * sin[i]
                v[i + half] = b * cos[i] + a * sin[i]
            }
        }
    }

    /// Rotates the new tokens' queries `[rows, H·D]` and keys `[rows, G·D]` by their absolute
    /// positions (each sequence continues at its cache length).
    func apply(q: UnsafeMutablePointer<Float>, heads: Int, k: UnsafeMutablePointer<Float>, kvHeads: Int, _ pass: ForwardPass) {
        var cos = [Float](repeating: 0, count: inverseFrequency.count), sin = cos
        for (row, (_, position)) in pass.positions.enumerated() {
            angles(position: position, cos: &cos, sin: &sin)
            rotate(q + row * heads * headDim, heads: heads, cos: cos, sin: sin)
            rotate(k + row * kvHeads * headDim, heads: kvHeads, cos: cos, sin: sin)
        }
    }
}
