import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Models

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed against reference runs on the same machine.",
        subcommands: [BenchPeak.self, BenchForward.self, BenchGenerate.self, BenchGEMM.self, BenchProbing.self, BenchSweep.self, BenchPaper.self])
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward pass of a BLOOM-shaped model (random weights, all hidden states) or of a checkpoint, next to PyTorch.",
        discussion: """
            Default shape: BLOOM-560m (24 layers, d_model 1024, 16 heads, vocab 250,880), batch 8×128.
            --model DIR runs that checkpoint instead (any architecture; its own weights) on random token ids.
            Model FLOPs per token = 2 × the multiply-adds of the dense products (24·d²·layers for BLOOM)
            + 2·(heads·head_dim)·(T+1)·layers (causal attention).
            The PyTorch column runs tools/bench_forward_torch.py (transformers' BloomModel, or the checkpoint's
            base model, same --dtype) in the same process tree; it is skipped with a note when torch is not installed.
            """)

    @Option(help: "A checkpoint directory to run instead of the random BLOOM shape.") var model: String?
    @Option(help: "Transformer blocks.") var layers = 24
    @Option(help: "Model width.") var hidden = 1024
    @Option(help: "Attention heads.") var heads = 16
    @Option(help: "Vocabulary size.") var vocab = 250_880
    @Option(help: "Sequences per batch.") var batch = 8
    @Option(help: "Tokens per sequence.") var seqLen = 128
    @Option(help: "Timed repetitions (best is reported).") var iterations = 3
    @Option(help: "Weight precision of both runs: fp32 or bf16 (xlsweep: bf16 × bf16 → fp32 products; PyTorch: model.to(bfloat16)).")
    var dtype: WeightPrecision = .fp32
    @Flag(help: "Skip the PyTorch reference run.") var noTorch = false
    @Option(help: "Rounds of (xlsweep, PyTorch) one after the other: the best of each is reported, and every round's ratio (a shared machine's speed drifts).")
    var rounds = 1

    func validate() throws {
        guard layers > 0, hidden > 0, heads > 0, hidden % heads == 0, vocab > 0, batch > 0, seqLen > 0, iterations > 0, rounds > 0 else {
            throw ValidationError("sizes must be positive and --heads must divide --hidden")
        }
    }

    func run() throws {
        let start = DispatchTime.now()
        let config: ModelConfig
        let network: any LanguageModel
        if let directory = model {
            let loaded = try LoadedModel.load(directory, tokenizer: false, dtype: dtype == .bf16 ? .bf16 : .fp32, hashEarly: false)
            (config, network) = (loaded.config, loaded.model)
        } else {
            config = try ModelConfig(json: ["model_type": "bloom", "vocab_size": vocab, "hidden_size": hidden,
                                            "n_layer": layers, "n_head": heads], path: "<bench>")
            network = try LoadedModel.random(config, seed: 1, precision: dtype)
        }
        let built = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let layers = config.nLayers, vocab = config.vocabSize
        let tokens = batch * seqLen
        let flopsPerToken = Self.flopsPerToken(config, keys: seqLen)
        print("xlsweep bench forward: \(model ?? "BLOOM shape"): \(config.architecture.rawValue), \(layers) layers, "
            + "d_model \(config.dModel), \(config.nHeads) heads, vocab \(vocab); "
            + "batch \(batch)×\(seqLen); all hidden states; \(dtype); \(kernelThreads) threads; "
            + (dtype == .bf16 ? KernelPath.summary : "\(KernelPath.fp32Summary) kernels"))
        fflush(nil)
        var rng = SplitMix64(seed: 2)
        let ids = (0..<batch).map { _ in (0..<seqLen).map { _ in Int(rng.next() % UInt64(vocab)) } }
        let sites = Set((0...layers).map { HookSite.hidden($0) })
        let peakBefore = PeakRates.measure()   // and after: the higher of each (`PeakRates.higher`)
        _ = try network.forward(ids, request: ForwardRequest(sites: sites))   // warm-up
        var best = Double.infinity
        var torchRate: Double?
        var note: String?
        var roundRatios: [String] = []
        for _ in 0..<rounds {
            var round = Double.infinity
            for _ in 0..<iterations {
                let t0 = DispatchTime.now()
                let out = try network.forward(ids, request: ForwardRequest(sites: sites))
                round = min(round, Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9)
                precondition(out.activations.count == sites.count)
            }
            best = min(best, round)
            if noTorch {
                note = "PyTorch reference skipped (--no-torch)"
            } else if note == nil {   // a reference that failed once is not run again
                switch Self.torchReference(self) {
                case .success(let rate):
                    torchRate = max(torchRate ?? 0, rate)
                    roundRatios.append(String(format: "%.2f×", Double(tokens) / round / rate))
                case .failure(let error): note = "PyTorch reference skipped: \(error.description)"
                }
            }
        }
        let ours = Double(tokens) / best
        let gemm = GEMMRates.measure(bf16: dtype == .bf16)
        let peak = PeakRates.measure().higher(peakBefore)
        let isBF16 = dtype == .bf16

        var rows: [(String, String, String, String, String)] = [("", "tokens/s", "GFLOP/s", "% of peak", "vs PyTorch")]
        func ratio(_ r: Double) -> String { torchRate.map { String(format: "%.2f×", r / $0) } ?? "–" }
        func gflops(_ tokensPerSecond: Double) -> Double { tokensPerSecond * flopsPerToken / 1e9 }
        rows.append(("xlsweep", String(format: "%.1f", ours), String(format: "%.1f", gflops(ours)), peak.share(gflops(ours), bf16: isBF16),
                     ratio(ours)))
        if let t = torchRate {
            rows.append(("PyTorch + transformers", String(format: "%.1f", t), String(format: "%.1f", gflops(t)),
                         peak.share(gflops(t), bf16: isBF16), "1.00×"))
        }
        for (label, rate) in gemm.rows {
            rows.append((label, "", String(format: "%.1f", rate), peak.share(rate, bf16: label.contains("bf16")), ""))
        }
        for loop in PeakRates.loops {
            rows.append(("peak: \(loop)", "", String(format: "%.1f", peak.rates[loop] ?? 0), "", ""))
        }
        for r in rows {
            print(r.0.padding(toLength: 60, withPad: " ", startingAt: 0) + r.1.leftPad(10) + r.2.leftPad(10) + r.3.leftPad(11)
                + r.4.leftPad(12))
        }
        print(String(format: "xlsweep's forward at %@ of the %@ peak (%.1f GFLOP/s, bench peak on %d threads, this run); %.0f%% of %@; "
                     + "model built in %.1f s; best of %d batches: %.2f s",
                     peak.share(gflops(ours), bf16: isBF16), dtype.rawValue, peak.peak(bf16: isBF16), peak.threads,
                     100 * gflops(ours) / gemm.reference.1, gemm.reference.0, built, iterations * rounds, best))
        if let ratio = gemm.ownVersusBestBLAS {
            print(String(format: "xlsweep's fp32 GEMM at %.0f%% of OpenBLAS's best sgemm on this CPU", 100 * ratio))
        }
        if let note = gemm.note { print(note) }
        if rounds > 1, !roundRatios.isEmpty { print("per round (xlsweep / PyTorch): " + roundRatios.joined(separator: " ")) }
        if let note { print(note) }
    }

    /// 2 × multiply-adds per token: the dense products of every block, and causal attention over
    /// `keys` positions (on average (T+1)/2 keys, for scores and for the weighted sum).
    /// Model FLOPs per token of a forward over `keys`-token sequences, all hidden states and no head:
    /// the architecture's weight table (its real MLP shape: gated or not) and causal attention.
    static func flopsPerToken(_ c: ModelConfig, keys: Int) -> Double {
        FLOPCount(c).sequence(tokens: keys, headRows: 0) / Double(max(keys, 1))
    }

    static func torchReference(_ b: BenchForward) -> Result<Double, UserError> {
        runReference("bench_forward_torch.py", ["--layers", "\(b.layers)", "--hidden", "\(b.hidden)", "--heads", "\(b.heads)",
                                                "--vocab", "\(b.vocab)", "--batch", "\(b.batch)", "--seq-len", "\(b.seqLen)",
                                                "--iterations", "\(b.iterations)", "--dtype", b.dtype.rawValue]
                                                + (b.model.map { ["--model", $0] } ?? []), missing: "torch/transformers")
            .flatMap { json in
                guard let rate = json["tokens_per_s"] as? Double else { return .failure(UserError("no tokens_per_s in the reference output")) }
                return .success(rate)
            }
    }
}

/// GEMM rates at 1024×4096×1024 on all threads (best of 3 × 5 each): xlsweep's fp32 kernels, OpenBLAS
/// sgemm with the kernels this process has, OpenBLAS with the best family this CPU runs (a child
/// process started with `OPENBLAS_CORETYPE` set, when that differs) and, for bf16, xlsweep's bf16
/// kernels.
struct GEMMRates {
    var own: Double
    var blas: Double
    var bestBLAS: (core: String, rate: Double)?
    var bf16: Double?
    var note: String?

    static let (m, n, k) = (1024, 4096, 1024)

    /// Three rounds of every kernel, one after the other (a shared machine's speed drifts); the
    /// best of each.
    static func measure(bf16: Bool) -> GEMMRates {
        var rates = GEMMRates(own: 0, blas: 0)
        for _ in 0..<3 {
            rates.own = max(rates.own, rate(.own))
            rates.blas = max(rates.blas, rate(.openBLAS))
            if bf16 { rates.bf16 = max(rates.bf16 ?? 0, rate(.bf16)) }
            if let core = BLASCore.better, rates.note == nil {
                switch child(core: core) {
                case .success(let r): rates.bestBLAS = (core, max(rates.bestBLAS?.rate ?? 0, r))
                case .failure(let e): rates.note = "OpenBLAS with \(core) kernels not measured: \(e.description)"
                }
            }
        }
        return rates
    }

    var rows: [(String, Double)] {
        var r: [(String, Double)] = [("xlsweep fp32 GEMM (\(KernelPath.fp32))", own),
                                     ("OpenBLAS sgemm (\(BLASCore.name), this process)", blas)]
        if let bestBLAS { r.append(("OpenBLAS sgemm (\(bestBLAS.core), forced)", bestBLAS.rate)) }
        if let bf16 { r.append(("xlsweep bf16 GEMM (\(KernelPath.active))", bf16)) }
        return r.map { ("\($0.0), \(Self.m)×\(Self.n)×\(Self.k)", $0.1) }
    }

    /// The rate the forward is measured against: the bf16 GEMM in bf16, else the best fp32 GEMM here.
    var reference: (String, Double) {
        if let bf16 { return ("the bf16 GEMM rate", bf16) }
        let best = max(own, blas, bestBLAS?.rate ?? 0)
        return ("the best fp32 GEMM rate", best)
    }

    var ownVersusBestBLAS: Double? { own / max(blas, bestBLAS?.rate ?? 0) }

    enum Kind: String { case own, openBLAS = "openblas", bf16 }

    static func rate(_ kind: Kind) -> Double {
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
        for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.1 }
        let w = kind == .bf16 ? HalfMatrix(rounding: b.pointer, rows: n, cols: k) : nil
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = DispatchTime.now()
            switch kind {
            case .own: Linear.forward(a.pointer, rows: m, inFeatures: k, weight: b.pointer, bias: nil, outFeatures: n, into: c.pointer)
            case .openBLAS: Linear.forwardOpenBLAS(a.pointer, rows: m, inFeatures: k, weight: b.pointer, outFeatures: n, into: c.pointer)
            case .bf16: Linear.forward(a.pointer, rows: m, inFeatures: k, weight: w!, bias: nil, outFeatures: n, into: c.pointer)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9)
        }
        return 2 * Double(m * n * k) / best / 1e9
    }

    /// `xlsweep bench gemm --kind openblas` in a child with OPENBLAS_CORETYPE=core.
    static func child(core: String) -> Result<Double, UserError> {
        let process = Process(), out = Pipe()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["bench", "gemm", "--kind", "openblas"]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = core
        process.environment = environment
        process.standardOutput = out
        do { try process.run() } catch { return .failure(UserError("could not start: \(error)")) }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let rate = Double(text.split(separator: " ").first ?? "") else {
            return .failure(UserError("exit \(process.terminationStatus)"))
        }
        return .success(rate)
    }
}

struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of one product kernel at 1024×4096×1024 on all threads (best of 5).",
        discussion: "`bench forward` runs it with OPENBLAS_CORETYPE set to measure OpenBLAS's best kernels on this CPU.")

    @Option(help: "own (xlsweep fp32), openblas (sgemm, the kernels OPENBLAS_CORETYPE or OpenBLAS chose) or bf16.")
    var kind = "own"

    func run() throws {
        guard let k = GEMMRates.Kind(rawValue: kind) else { throw ValidationError("--kind must be own, openblas or bf16") }
        let rate = GEMMRates.rate(k)
        let peak = PeakRates.measure()
        print(String(format: "%.1f GFLOP/s", rate) + (k == .openBLAS ? " (OpenBLAS \(BLASCore.name))" : "")
            + ", \(peak.share(rate, bf16: k == .bf16)) of peak")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension WeightPrecision: ExpressibleByArgument {}
