import CKernelSupport
import Foundation

/// Element-wise activations over a flat buffer, in place.
public enum Activation {
    /// BLOOM's tanh GELU exactly as `bloom_gelu_forward` in transformers' modeling_bloom.py:
    /// x · 0.5 · (1 + tanh(0.79788456 · x · (1 + 0.044715 · x²))).
    public static func bloomGELU(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if KernelSwitch.reference { return bloomGELUReference(x, count: count) }
        let shared = SharedPointer(x)
        parallelChunks(count / 16, minimumChunk: 256) { chunk in
            for i in chunk {
                let p = UnsafeMutableRawPointer(shared.base + i * 16)
                let v = p.loadUnaligned(as: Vec16.self)
                let t = simdTanh(0.797_884_56 * v * (1 + 0.044_715 * v * v))
                p.storeBytes(of: v * 0.5 * (1 + t), as: Vec16.self)
            }
        }
        let tail = count / 16 * 16
        if tail < count { bloomGELUReference(x + tail, count: count - tail) }
    }

    public static func bloomGELUReference(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            x[i] = v * 0.5 * (1 + tanhf(0.797_884_56 * v * (1 + 0.044_715 * v * v)))
        }
    }

    /// SiLU (swish), x · σ(x) = x / (1 + e^−x) (torch.nn.functional.silu; Llama's and OLMo-2's "silu").
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let shared = SharedPointer(x)
        parallelChunks(count, minimumChunk: 4096) { chunk in
            for i in chunk {
                let v = shared.base[i]
                shared.base[i] = v / (1 + expf(-v))
            }
        }
    }

    /// The activation a config names (`hidden_act`, `activation_function`), in place.
    /// The names the product kernels can fuse are `FusedActivation`'s.
    public static func named(_ name: String, _ x: UnsafeMutablePointer<Float>, count: Int) {
        let fusable = FusedActivation(named: name)
        if fusable != .none { return fusable.apply(x, count: count) }
        switch name {
        case "relu": for i in 0..<count { x[i] = max(0, x[i]) }
        case "silu": silu(x, count: count)
        default: gelu(x, count: count)
        }
    }

    /// Exact GELU, x · Φ(x) = 0.5 · x · (1 + erf(x / √2)) (torch.nn.functional.gelu default; XGLM's "gelu").
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let shared = SharedPointer(x)
        parallelChunks(count, minimumChunk: 4096) { chunk in
            for i in chunk {
                let v = shared.base[i]
                shared.base[i] = 0.5 * v * (1 + erff(v * 0.707_106_781_186_547_6))
            }
        }
    }

    /// tanh-approximated GELU as torch's `gelu(approximate="tanh")` / HF `gelu_pytorch_tanh`:
    /// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if KernelSwitch.reference { return geluTanhReference(x, count: count) }
        let shared = SharedPointer(x)
        parallelChunks(count / 16, minimumChunk: 256) { chunk in
            for i in chunk {
                let p = UnsafeMutableRawPointer(shared.base + i * 16)
                let v = p.loadUnaligned(as: Vec16.self)
                let t = simdTanh(0.797_884_560_802_865_4 * (v + 0.044_715 * v * v * v))
                p.storeBytes(of: 0.5 * v * (1 + t), as: Vec16.self)
            }
        }
        let tail = count / 16 * 16
        if tail < count { geluTanhReference(x + tail, count: count - tail) }
    }

    public static func geluTanhReference(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let inner: Float = 0.797_884_560_802_865_4 * (v + 0.044_715 * v * v * v)
            x[i] = 0.5 * v * (1 + tanhf(inner))
        }
    }
}

/// An activation the product kernels apply to each tile of their output as they finish it
/// (`xl_activation_rows`, activation.c), bit for bit the vector code of the `Activation` it names:
/// the MLP's hidden layer then takes no pass over memory of its own.
public enum FusedActivation: Int32, Sendable {
    case none = 0, bloomGELU = 1, geluTanh = 2

    /// The fusable activation a config names (`hidden_act`, `activation_function`), else `.none`.
    public init(named name: String) {
        switch name {
        case "bloom_gelu": self = .bloomGELU
        case "gelu_new", "gelu_pytorch_tanh": self = .geluTanh
        default: self = .none
        }
    }

    /// Applies it in place after the fact (`Activation`'s own code).
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .none: break
        case .bloomGELU: Activation.bloomGELU(x, count: count)
        case .geluTanh: Activation.geluTanh(x, count: count)
        }
    }

    /// Whether a product with `columns` output columns may apply it tile by tile: `Activation`
    /// computes whole 16-float groups of the flat buffer with its vector code (what the kernels
    /// replicate) and a tail with libm, so every row must be whole groups; and not in the scalar
    /// reference mode, whose activations are libm's.
    public func isFusable(columns: Int) -> Bool { self != .none && !KernelSwitch.reference && columns % 16 == 0 }
}
