import CKernelSupport
import Dispatch

/// The machine's own arithmetic limit, measured: register-only loops of the product instructions
/// (peak.c) on `threads` threads at once, one loop per kernel level this CPU has. Every speed
/// figure of `xlsweep bench` is stated as a share of these rates, measured in the same run (a
/// ratio to PyTorch has a ceiling that moves with the CPU; the FMA peak does not).
public struct PeakRates: Sendable {
    /// One register-only loop.
    public enum Loop: Int32, CaseIterable, Sendable, CustomStringConvertible {
        case fp32AVX2 = 0, fp32AVX512 = 1, bf16AVX512 = 2, bf16AMX = 3

        /// The kernel level a CPU needs to run the loop.
        public var level: KernelPath {
            switch self {
            case .fp32AVX2: return .avx2
            case .fp32AVX512: return .avx512
            case .bf16AVX512: return .avx512BF16
            case .bf16AMX: return .amx
            }
        }

        public var description: String {
            switch self {
            case .fp32AVX2: return "fp32 FMA, AVX2 (VFMADD231PS ymm)"
            case .fp32AVX512: return "fp32 FMA, AVX-512 (VFMADD231PS zmm)"
            case .bf16AVX512: return "bf16 dot product, AVX-512 BF16 (VDPBF16PS zmm)"
            case .bf16AMX: return "bf16 tile product, AMX (TDPBF16PS)"
            }
        }
    }

    /// GFLOP/s of each loop this CPU runs, on `threads` threads.
    public let rates: [Loop: Double]
    public let threads: Int

    public init(rates: [Loop: Double], threads: Int) {
        self.rates = rates
        self.threads = threads
    }

    /// The loops this process can run (up to `KernelPath.detected`), in level order.
    public static var loops: [Loop] { Loop.allCases.filter { $0.level <= KernelPath.detected } }

    /// Measures every loop: `rounds` rounds of each, one after the other, each about `seconds`
    /// long; the best round of each loop.
    public static func measure(threads: Int = kernelThreads, rounds: Int = 3, seconds: Double = 0.15) -> PeakRates {
        var best: [Loop: Double] = [:]
        for _ in 0..<rounds {
            for loop in loops { best[loop] = max(best[loop] ?? 0, rate(loop, threads: threads, seconds: seconds)) }
        }
        return PeakRates(rates: best, threads: threads)
    }

    /// GFLOP/s of `loop` on `threads` threads of their own started together, each running the same
    /// number of iterations.
    static func rate(_ loop: Loop, threads: Int, seconds: Double) -> Double {
        // Calibrate on one thread: iterations for about `seconds`.
        var iterations = 1 << 16
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = xl_peak_loop(loop.rawValue, iterations)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if elapsed > seconds / 4 || iterations > 1 << 34 {
                iterations = max(1, Int(Double(iterations) * seconds / max(elapsed, 1e-9)))
                break
            }
            iterations *= 4
        }
        return xl_peak_rate(loop.rawValue, iterations, Int32(threads)) / 1e9
    }

    /// The higher rate of each loop of two measurements: taken before and after the work they
    /// rate, so that one slow moment on a shared host does not lower the peak and flatter every share.
    public func higher(_ other: PeakRates) -> PeakRates {
        PeakRates(rates: rates.merging(other.rates, uniquingKeysWith: max), threads: threads)
    }

    /// The rate fp32 products can reach: the loop of the level the fp32 kernels run on.
    public var fp32: Double {
        KernelPath.fp32 >= .avx512 ? rates[.fp32AVX512] ?? 0 : rates[.fp32AVX2] ?? 0
    }

    /// The rate bf16 products can reach on the active level: AMX tiles, VDPBF16PS, or (below
    /// AVX-512 BF16, where bf16 products are exact fp32 FMAs) the fp32 loop.
    public var bf16: Double {
        switch KernelPath.active {
        case .amx: return rates[.bf16AMX] ?? 0
        case .avx512BF16: return rates[.bf16AVX512] ?? 0
        default: return fp32
        }
    }

    /// The peak of bf16 products (`bf16`) or fp32 ones.
    public func peak(bf16 isBF16: Bool) -> Double { isBF16 ? bf16 : fp32 }

    /// "83%": `gflops` as a share of the bf16 or fp32 peak, or "–" when no peak was measured.
    public func share(_ gflops: Double, bf16 isBF16: Bool = false) -> String {
        let p = peak(bf16: isBF16)
        return p > 0 ? "\(Int((100 * gflops / p).rounded()))%" : "–"
    }
}
