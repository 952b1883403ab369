/// Model FLOPs of forward passes, from the architecture's weight table (2 per multiply-add):
/// the dense products of the blocks and the head, and causal attention's two products (scores
/// and the weighted sum of values) over the keys each token sees. Element-wise work (norms,
/// activations, softmax) is not counted: the figure is the arithmetic the products must do, what
/// a share of the FMA peak is taken of.
public struct FLOPCount: Sendable, Equatable {
    /// Multiply-adds per token of the blocks' product matrices and of the output head.
    public let bodyMACs: Int
    public let headMACs: Int
    /// Query width (heads × head_dim) and layers: attention does 2 · queryWidth multiply-adds per
    /// (token, key) pair per layer.
    public let queryWidth: Int
    public let layers: Int

    public init(_ config: ModelConfig) {
        let products = WeightTable.of(config).productsPerToken
        bodyMACs = products.body
        headMACs = products.head
        queryWidth = config.nHeads * config.headDim
        layers = config.nLayers
    }

    /// A whole sequence of `tokens` from an empty cache through every block (token i sees i + 1
    /// keys), with logits at `headRows` positions.
    public func sequence(tokens: Int, headRows: Int = 0) -> Double {
        let t = Double(tokens)
        return 2 * Double(bodyMACs) * t + 2 * Double(queryWidth * layers) * t * (t + 1)
            + 2 * Double(headMACs) * Double(headRows)
    }

    /// One decoding step of one sequence: a token at position `position` (it sees position + 1
    /// keys), logits included.
    public func decodeStep(position: Int) -> Double {
        2 * Double(bodyMACs + headMACs) + 4 * Double(queryWidth * layers) * Double(position + 1)
    }

    /// `samples` continuations of a `prompt`-token prompt by `newTokens` tokens (the last token
    /// drawn is not fed back): the prompt's forward with logits at its end, once (the samples share
    /// it, and `Generator` runs it once), then a step per token per sample.
    public func generation(samples: Int, prompt: Int, newTokens: Int) -> Double {
        guard newTokens > 0, samples > 0 else { return 0 }
        var steps = 0.0
        for step in 1..<newTokens { steps += decodeStep(position: prompt + step - 1) }
        return sequence(tokens: prompt, headRows: 1) + Double(samples) * steps
    }
}
