import ArgumentParser
import Foundation
import Kernels

struct BenchPeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "The machine's attainable FMA and bf16 dot-product rates on all threads: the limit every bench figure is a share of.",
        discussion: """
            One register-only loop per kernel level this CPU has (12 independent accumulator chains per
            thread, nothing read from memory): fp32 FMA on AVX2 and AVX-512, VDPBF16PS (AVX-512 BF16), AMX
            TDPBF16PS. All threads run it at once; best of --rounds. The fp32 peak is the loop of the level
            the fp32 kernels use; the bf16 peak that of the bf16 kernels' level.
            """)

    @Option(help: "Threads (default: the kernel threads, XLSWEEP_THREADS or every core).") var threads: Int?
    @Option(help: "Rounds of every loop (best is reported).") var rounds = 3
    @Flag(help: "One JSON object instead of the table.") var json = false

    func validate() throws {
        guard rounds > 0, (threads ?? 1) > 0 else { throw ValidationError("--rounds and --threads must be positive") }
    }

    func run() throws {
        let n = threads ?? kernelThreads
        let peak = PeakRates.measure(threads: n, rounds: rounds)
        if json {
            var object: [String: Any] = ["threads": n, "cpu": CPUName.current, "kernels": "\(KernelPath.active)",
                                         "fp32_gflops": peak.fp32, "bf16_gflops": peak.bf16]
            for (loop, rate) in peak.rates { object[loop.key] = rate }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("xlsweep bench peak: \(CPUName.current); \(n) threads; \(KernelPath.summary)")
        print("loop".padding(toLength: 52, withPad: " ", startingAt: 0) + "GFLOP/s".leftPad(10) + "per thread".leftPad(12))
        for loop in PeakRates.loops {
            let rate = peak.rates[loop] ?? 0
            print(loop.description.padding(toLength: 52, withPad: " ", startingAt: 0)
                + String(format: "%.1f", rate).leftPad(10) + String(format: "%.1f", rate / Double(n)).leftPad(12))
        }
        print(String(format: "peak of fp32 products (%@ kernels): %.1f GFLOP/s; of bf16 products (%@): %.1f GFLOP/s",
                     "\(KernelPath.fp32)", peak.fp32, "\(KernelPath.active)", peak.bf16))
    }
}

extension PeakRates.Loop {
    /// The JSON key of the loop's rate.
    var key: String {
        switch self {
        case .fp32AVX2: return "fp32_avx2_gflops"
        case .fp32AVX512: return "fp32_avx512_gflops"
        case .bf16AVX512: return "bf16_avx512_gflops"
        case .bf16AMX: return "bf16_amx_gflops"
        }
    }
}

/// The CPU's model name (/proc/cpuinfo), for benchmark headers: every figure names its host.
enum CPUName {
    static let current: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        var name = "unknown CPU", family = "", model = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "model name", name == "unknown CPU" { name = parts[1] }
            if parts[0] == "cpu family", family.isEmpty { family = parts[1] }
            if parts[0] == "model", model.isEmpty { model = parts[1] }
            if parts[0] == "processor", parts[1] != "0" { break }
        }
        return "\(name) (family \(family), model \(model))"
    }()
}
