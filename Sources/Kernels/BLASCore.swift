import CBLAS
import CKernelSupport
import Foundation

/// Which OpenBLAS kernels this process runs. OpenBLAS (0.3.21, DYNAMIC_ARCH) picks them from the
/// CPU model when the library loads; a model newer than the library (Intel Emerald Rapids, model
/// 207) gets its SSE3 "Prescott" kernels, with sgemm ~6× slower than the AVX-512 ones the CPU runs.
/// The choice is made before `main`, so the CLI starts itself again with `OPENBLAS_CORETYPE` set.
public enum BLASCore {
    /// OpenBLAS's kernel name for this process (e.g. "Cooperlake").
    public static var name: String { String(cString: openblas_get_corename()) }

    /// Widest vector instructions an OpenBLAS kernel family uses: 3 AVX-512, 2 AVX2, 1 AVX, 0 older.
    static func width(_ core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return 1
        default: return 0
        }
    }

    /// The kernel family to ask for when OpenBLAS took narrower kernels than the CPU runs and the
    /// user has not chosen one (`OPENBLAS_CORETYPE` unset); nil when its own choice stands.
    public static var better: String? {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let suggested = xl_openblas_coretype_for_cpu().map({ String(cString: $0) }),
              width(suggested) > width(name) else { return nil }
        return suggested
    }

    /// What OpenBLAS took by itself, when the CLI overrode it (`XLSWEEP_BLAS_DETECTED`).
    public static var overridden: String? { ProcessInfo.processInfo.environment["XLSWEEP_BLAS_DETECTED"] }

    /// One line for logs: the kernels and, when overridden, why.
    public static var summary: String {
        guard let detected = overridden else { return name }
        return "\(name) (OpenBLAS took \(detected) on this CPU; OPENBLAS_CORETYPE set by xlsweep)"
    }
}
