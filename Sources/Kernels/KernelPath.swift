import CKernelSupport
import Foundation

/// The instruction-set level of the product kernels (fp32 and bf16), chosen at run time from cpuid so one
/// binary runs on any x86-64 node. `XLSWEEP_CPU=generic|avx2|avx512|avx512-bf16|amx-bf16` forces a
/// lower level (to test a fallback on a newer CPU); a level the CPU lacks is never taken.
/// The portable levels (generic … avx512-bf16) give the same bits on every CPU; `amx-bf16`
/// (Intel AMX tiles, Sapphire Rapids on) accumulates in its own order and gives its own bits.
public enum KernelPath: Int32, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case generic = 0, avx2 = 1, avx512 = 2, avx512BF16 = 3, amx = 4

    public var description: String {
        switch self {
        case .generic: return "generic"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        case .avx512BF16: return "avx512-bf16"
        case .amx: return "amx-bf16"
        }
    }

    public static func < (a: KernelPath, b: KernelPath) -> Bool { a.rawValue < b.rawValue }

    /// Levels whose products are bit-identical to each other (all but AMX).
    public var isPortable: Bool { self <= .avx512BF16 }

    /// The numerics a level's bf16 products follow, for provenance: "portable" or "amx".
    public var numerics: String { isPortable ? "portable" : "amx" }

    /// What this CPU supports.
    public static let detected: KernelPath = KernelPath(rawValue: xl_cpu_features()) ?? .generic

    /// `XLSWEEP_CPU`, if set: the level asked for, or an error naming the accepted values.
    public static func requested() throws(KernelPathError) -> KernelPath? {
        guard let text = ProcessInfo.processInfo.environment["XLSWEEP_CPU"], !text.isEmpty else { return nil }
        guard let path = allCases.first(where: { $0.description == text.lowercased() }) else {
            throw KernelPathError(value: text)
        }
        return path
    }

    /// The level every bf16 kernel of this process uses (the CLI refuses a bad `XLSWEEP_CPU` at
    /// start; here it is ignored).
    public static let active: KernelPath = min(((try? requested()) ?? nil) ?? detected, detected)

    /// The level of the fp32 products (`xl_gemm_f32`): `active`, capped at AVX-512 (fp32 has no bf16
    /// or AMX form). Every level gives the same bits; this one says how fast they come.
    public static let fp32: KernelPath = min(active, .avx512)

    /// What the fp32 products run on, for provenance and logs, e.g. "fp32 avx512".
    public static var fp32Summary: String { "fp32 \(fp32)" }

    /// One line for logs: the level taken and why.
    public static var summary: String {
        if active == detected { return "\(active) kernels (detected)" }
        return "\(active) kernels (XLSWEEP_CPU=\(ProcessInfo.processInfo.environment["XLSWEEP_CPU"] ?? ""); CPU supports \(detected))"
    }
}

public struct KernelPathError: Error, CustomStringConvertible {
    public let value: String
    public var description: String {
        "XLSWEEP_CPU='\(value)' is not one of \(KernelPath.allCases.map(\.description).joined(separator: ", "))"
    }
}
