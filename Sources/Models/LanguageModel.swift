import Checkpoints
import Kernels

/// Units of hook sites forced to fixed values at every position (prompt and generated tokens).
public struct Interventions: Sendable {
    public var values: [HookSite: [(unit: Int, value: Float)]]

    public init(_ values: [HookSite: [(unit: Int, value: Float)]] = [:]) { self.values = values }

    public var isEmpty: Bool { values.isEmpty }

    /// Checks every site exists and every unit is inside its site's width.
    public func validate(_ config: ModelConfig) throws {
        for (site, units) in values {
            guard site.exists(in: config) else {
                throw HookSiteError.outOfRange(site.description, layers: config.nLayers)
            }
            for (unit, value) in units where unit < 0 || unit >= site.width(config) || !value.isFinite {
                throw InterventionError(site: site.description, unit: unit, width: site.width(config), value: value)
            }
        }
    }
}

public struct InterventionError: Error, CustomStringConvertible {
    public let site: String, unit: Int, width: Int, value: Float
    public var description: String {
        value.isFinite ? "\(site): unit \(unit) is outside 0..<\(width)" : "\(site):\(unit): value \(value) is not finite"
    }
}

/// Which logits a forward returns.
public enum LogitsSelection: Sendable { case none, lastPosition, allPositions }

/// What one forward call computes.
public struct ForwardRequest: Sendable {
    public var sites: Set<HookSite>
    public var interventions: Interventions
    public var logits: LogitsSelection
    /// Where the logits go when given and large enough (`ForwardResult.logits` is then empty): a
    /// caller that runs step after step (decoding) keeps one buffer instead of having 100 × 262k
    /// floats mapped and faulted in anew by every step. The values are the same either way.
    public var logitsOutput: FloatBuffer?

    public init(sites: Set<HookSite> = [], interventions: Interventions = Interventions(), logits: LogitsSelection = .none,
                logitsOutput: FloatBuffer? = nil) {
        self.sites = sites
        self.interventions = interventions
        self.logits = logits
        self.logitsOutput = logitsOutput
    }
}

/// Activations of one forward over a ragged batch, packed along tokens.
public struct ForwardResult: Sendable {
    /// New tokens per sequence, in batch order.
    public let lengths: [Int]
    /// site → `[Σ lengths, width]`, rows in batch order.
    public var activations: [HookSite: [Float]]
    /// `[sequences, vocab]` for `.lastPosition`, `[Σ lengths, vocab]` for `.allPositions`; empty
    /// when they were written to the request's `logitsOutput`.
    public var logits: [Float]

    /// Rows of sequence `index` of a packed `[Σ lengths, width]` array, as `[length][width]`.
    public func rows(_ site: HookSite, sequence index: Int, width: Int) -> [[Float]] {
        guard let a = activations[site] else { return [] }
        let start = lengths[..<index].reduce(0, +)
        return (0..<lengths[index]).map { t in Array(a[((start + t) * width)..<((start + t + 1) * width)]) }
    }
}

/// A decoder-only transformer that runs a ragged batch (no padding: sequences are packed, so each
/// row of a batch is computed exactly as when run alone), optionally extending KV caches.
public protocol LanguageModel: Sendable {
    var config: ModelConfig { get }
    /// Stored name of every tensor the model consumed, by canonical name (for fingerprints).
    var canonicalNames: [String: String] { get }
    /// - Parameters: batch: token ids per sequence (new tokens only when caches hold a prefix);
    ///   caches: one per sequence, or empty for a cache-free forward.
    func forward(_ batch: [[Int]], caches: [KVCache], request: ForwardRequest) throws -> ForwardResult
    /// The logit lens: `rows` residual-stream states `[rows, dModel]` through the model's own final
    /// norm (skipped when `normed`: `hidden.n` is already normed, as transformers returns it) and
    /// head, into `logits` `[rows, vocab]`. For `hidden.n` it gives the model's own logits.
    func lens(_ hidden: UnsafePointer<Float>, rows: Int, normed: Bool, into logits: UnsafeMutablePointer<Float>)
}

extension LanguageModel {
    public func forward(_ batch: [[Int]], request: ForwardRequest) throws -> ForwardResult {
        try forward(batch, caches: [], request: request)
    }

    public func makeCache() -> KVCache { KVCache(layers: config.nLayers, width: config.kvWidth) }
}

public struct ForwardError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
