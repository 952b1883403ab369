/// Where activations can be read or overwritten, named as the CLI and HDF5 files name them:
/// `hidden.L` is exactly transformers' `output_hidden_states[L]` (L = 0…n_layers; the last is
/// after the final LayerNorm); `blocks.L.*` follow TransformerLens' hook names.
public enum HookSite: Hashable, Sendable, Comparable, CustomStringConvertible {
    case hidden(Int)
    case residPre(Int)
    case residPost(Int)
    case attnOut(Int)
    /// MLP activation after GELU: BLOOM's `gelu_impl` output, XGLM's `fc2` input.
    case mlpPost(Int)
    case mlpOut(Int)

    public static let blockKinds = ["resid_pre", "attn_out", "mlp_post", "mlp_out", "resid_post"]

    public var description: String {
        switch self {
        case .hidden(let l): return "hidden.\(l)"
        case .residPre(let l): return "blocks.\(l).resid_pre"
        case .residPost(let l): return "blocks.\(l).resid_post"
        case .attnOut(let l): return "blocks.\(l).attn_out"
        case .mlpPost(let l): return "blocks.\(l).mlp_post"
        case .mlpOut(let l): return "blocks.\(l).mlp_out"
        }
    }

    public var layer: Int {
        switch self {
        case .hidden(let l), .residPre(let l), .residPost(let l), .attnOut(let l), .mlpPost(let l), .mlpOut(let l):
            return l
        }
    }

    /// Order of computation, for output in forward order.
    var order: (Int, Int) {
        switch self {
        case .hidden(let l): return (l, -1)
        case .residPre(let l): return (l, 0)
        case .attnOut(let l): return (l, 1)
        case .mlpPost(let l): return (l, 2)
        case .mlpOut(let l): return (l, 3)
        case .residPost(let l): return (l, 4)
        }
    }

    public static func < (a: HookSite, b: HookSite) -> Bool { a.order < b.order }

    /// Parses a name such as `hidden.3` or `blocks.2.mlp_post`; nil if malformed.
    public init?(_ name: String) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 2, parts[0] == "hidden", let l = Int(parts[1]), l >= 0 {
            self = .hidden(l)
        } else if parts.count == 3, parts[0] == "blocks", let l = Int(parts[1]), l >= 0 {
            switch parts[2] {
            case "resid_pre": self = .residPre(l)
            case "resid_post": self = .residPost(l)
            case "attn_out": self = .attnOut(l)
            case "mlp_post": self = .mlpPost(l)
            case "mlp_out": self = .mlpOut(l)
            default: return nil
            }
        } else {
            return nil
        }
    }

    /// Width of the site's vectors.
    public func width(_ config: ModelConfig) -> Int {
        if case .mlpPost = self { return config.dMLP }
        return config.dModel
    }

    /// Whether the site exists in a model of `config`'s depth.
    public func exists(in config: ModelConfig) -> Bool {
        if case .hidden(let l) = self { return l <= config.nLayers }
        return layer < config.nLayers
    }

    /// Expands a comma list of names where `*` stands for every layer (`hidden.*,blocks.*.mlp_post`).
    public static func expand(_ patterns: String, config: ModelConfig) throws -> [HookSite] {
        var out: [HookSite] = []
        for raw in patterns.split(separator: ",") {
            let pattern = raw.trimmingCharacters(in: .whitespaces)
            let names: [String]
            if pattern.contains("*") {
                let count = pattern.hasPrefix("hidden.") ? config.nLayers + 1 : config.nLayers
                names = (0..<count).map { pattern.replacingOccurrences(of: "*", with: String($0)) }
            } else {
                names = [pattern]
            }
            for name in names {
                guard let site = HookSite(name) else { throw HookSiteError.malformed(name) }
                guard site.exists(in: config) else { throw HookSiteError.outOfRange(name, layers: config.nLayers) }
                if !out.contains(site) { out.append(site) }
            }
        }
        return out
    }
}

public enum HookSiteError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case outOfRange(String, layers: Int)

    public var description: String {
        switch self {
        case .malformed(let n):
            return "hook site '\(n)' is not hidden.L or blocks.L.{\(HookSite.blockKinds.joined(separator: ","))}"
        case .outOfRange(let n, let layers):
            return "hook site '\(n)' is outside the model (\(layers) layers: hidden.0…hidden.\(layers), blocks.0…blocks.\(layers - 1))"
        }
    }
}

import Foundation
