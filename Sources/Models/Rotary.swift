import Foundation

/// Rotary position embedding (Su et al. 2021, RoFormer eq. 34) in transformers' "rotate half"
/// layout: dimension i < D/2 pairs with i + D/2, rotated by position · θ^(−2i/D) (divided by a
/// linear scaling factor), as `Gemma3RotaryEmbedding` + `apply_rotary_pos_emb`, in fp32.
struct Rotary: Sendable {
    let inverseFrequency: [Float]

    init(_ p: RotaryParameters, headDim: Int) {
        // inv_freq = 1 / θ^(arange(0, D, 2) / D), each step in fp32 like torch.
        inverseFrequency = stride(from: 0, to: headDim, by: 2).map { i in
            (1 / powf(Float(p.theta), Float(i) / Float(headDim))) / Float(p.linearFactor)
        }
    }

    /// cos and sin of position · inverse frequency, the D/2 angles of `position`.
    func angles(position: Int, cos: inout [Float], sin: inout [Float]) {
        for i in inverseFrequency.indices {
            let angle = Float(position) * inverseFrequency[i]
            cos[i] = Foundation.cos(angle)
            sin[i] = Foundation.sin(angle)
        }
    }

    /// Rotates `heads` vectors of width D at `x` (consecutive) by the angles of one position.
    func rotate(_ x: UnsafeMutablePointer<Float>, heads: Int, cos: [Float], sin: [Float]) {
        let half = inverseFrequency.count
        for h in 0..<heads {
            let v = x + h * 2 * half
            for i in 0..<half {
                let a = v[i], b = v[i + half]
                v[i] = a * cos[i] + (-b) * sin[i]
                v[i + half] = b * cos[i] + a * sin[i]
            }
        }
    }
}
