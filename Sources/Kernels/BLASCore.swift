import CBLAS
import CKernelSupport
import Foundation

/// OpenBLAS, kept as the comparison `bench forward` prints (no product of a sweep runs through it
/// since xlsweep's own fp32 kernels). OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels from the
/// CPU model when the library loads, or from `OPENBLAS_CORETYPE`; a model newer than the library
/// gets narrower kernels than the CPU runs (Intel Emerald Rapids: SSE3 "Prescott"; this project's
/// Zen 5 hosts set `OPENBLAS_CORETYPE=Haswell` themselves).
public enum BLASCore {
    /// OpenBLAS's kernel name for this process (e.g. "Haswell").
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The widest kernel family this CPU runs ("Cooperlake", "SkylakeX", "Haswell"), or nil.
    public static var best: String? { xl_openblas_coretype_for_cpu().map { String(cString: $0) } }

    /// Widest vector instructions an OpenBLAS kernel family uses: 3 AVX-512, 2 AVX2, 1 AVX, 0 older.
    public static func width(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return 1
        default: return 0
        }
    }

    /// The family to force for the best OpenBLAS rate on this CPU, when this process has narrower ones.
    public static var better: String? {
        guard let best, width(best) > width(name) else { return nil }
        return best
    }
}
