import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Models

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed against reference runs on the same machine.",
        subcommands: [BenchForward.self, BenchProbing.self, BenchSweep.self])
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Forward pass of a BLOOM-shaped model (random weights, all hidden states) next to PyTorch.",
        discussion: """
            Default shape: BLOOM-560m (24 layers, d_model 1024, 16 heads, vocab 250,880), batch 8×128.
            Model FLOPs per token = 24·d²·layers (dense products) + 2·d·(T+1)·layers (causal attention).
            The PyTorch column runs tools/bench_forward_torch.py (transformers' BloomModel, same --dtype) in the
            same process tree; it is skipped with a note when torch is not installed.
            """)

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

    func validate() throws {
        guard layers > 0, hidden > 0, heads > 0, hidden % heads == 0, vocab > 0, batch > 0, seqLen > 0, iterations > 0 else {
            throw ValidationError("sizes must be positive and --heads must divide --hidden")
        }
    }

    func run() throws {
        try reportingErrors {
            let config = try ModelConfig(json: ["model_type": "bloom", "vocab_size": vocab, "hidden_size": hidden,
                                                "n_layer": layers, "n_head": heads], path: "<bench>")
            let tokens = batch * seqLen
            let flopsPerToken = Double(24 * hidden * hidden * layers) + Double(2 * hidden * (seqLen + 1) * layers)
            print("xlsweep bench forward: BLOOM shape \(layers) layers, d_model \(hidden), \(heads) heads, vocab \(vocab); "
                + "batch \(batch)×\(seqLen); all hidden states; \(dtype); \(kernelThreads) threads; BLAS core \(Linear.coreName)"
                + (dtype == .bf16 ? "; \(KernelPath.summary)" : ""))
            fflush(nil)

            let start = DispatchTime.now()
            let model = try Bloom(config: config, randomSeed: 1, precision: dtype)
            let built = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            var rng = SplitMix64(seed: 2)
            let ids = (0..<batch).map { _ in (0..<seqLen).map { _ in Int(rng.next() % UInt64(vocab)) } }
            let sites = Set((0...layers).map { HookSite.hidden($0) })
            _ = try model.forward(ids, request: ForwardRequest(sites: sites))   // warm-up
            var best = Double.infinity
            for _ in 0..<iterations {
                let t0 = DispatchTime.now()
                let out = try model.forward(ids, request: ForwardRequest(sites: sites))
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9)
                precondition(out.activations.count == sites.count)
            }
            let ours = Double(tokens) / best
            let sgemm = Self.sgemmRate()
            let bf16Rate = dtype == .bf16 ? Self.bf16Rate() : nil

            var rows: [(String, String, String, String)] = [("", "tokens/s", "GFLOP/s", "vs PyTorch")]
            var torchRate: Double?
            var note: String?
            if noTorch {
                note = "PyTorch reference skipped (--no-torch)"
            } else {
                switch Self.torchReference(self) {
                case .success(let rate): torchRate = rate
                case .failure(let error): note = "PyTorch reference skipped: \(error.description)"
                }
            }
            func ratio(_ r: Double) -> String { torchRate.map { String(format: "%.2f×", r / $0) } ?? "–" }
            rows.append(("xlsweep", String(format: "%.1f", ours), String(format: "%.1f", ours * flopsPerToken / 1e9), ratio(ours)))
            if let t = torchRate {
                rows.append(("PyTorch + transformers", String(format: "%.1f", t), String(format: "%.1f", t * flopsPerToken / 1e9),
                             "1.00×"))
            }
            rows.append(("BLAS sgemm 1024×4096×1024", "", String(format: "%.1f", sgemm), ""))
            if let bf16Rate { rows.append(("bf16 GEMM 1024×4096×1024", "", String(format: "%.1f", bf16Rate), "")) }
            for r in rows {
                print(r.0.padding(toLength: 28, withPad: " ", startingAt: 0) + r.1.leftPad(10) + r.2.leftPad(10) + r.3.leftPad(12))
            }
            let peak = bf16Rate ?? sgemm
            print(String(format: "xlsweep at %.0f%% of the %@ rate; model built in %.1f s; best of %d batches: %.2f s",
                         100 * ours * flopsPerToken / 1e9 / peak, bf16Rate == nil ? "sgemm" : "bf16 GEMM", built, iterations, best))
            if let note { print(note) }
        }
    }

    /// OpenBLAS sgemm GFLOP/s at 1024×4096×1024 (best of 5), the practical peak of these products.
    static func sgemmRate() -> Double {
        let m = 1024, n = 4096, k = 1024
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
        for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.1 }
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = DispatchTime.now()
            Linear.forward(a.pointer, rows: m, inFeatures: k, weight: b.pointer, bias: nil, outFeatures: n, into: c.pointer)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9)
        }
        return 2 * Double(m * n * k) / best / 1e9
    }

    /// The bf16 kernels' GFLOP/s at the same size (best of 5).
    static func bf16Rate() -> Double {
        let m = 1024, n = 4096, k = 1024
        let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
        for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(n * k) { b[i] = Float(i % 5) * 0.1 }
        let w = HalfMatrix(rounding: b.pointer, rows: n, cols: k)
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = DispatchTime.now()
            Linear.forward(a.pointer, rows: m, inFeatures: k, weight: w, bias: nil, outFeatures: n, into: c.pointer)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9)
        }
        return 2 * Double(m * n * k) / best / 1e9
    }

    static func torchReference(_ b: BenchForward) -> Result<Double, UserError> {
        runReference("bench_forward_torch.py", ["--layers", "\(b.layers)", "--hidden", "\(b.hidden)", "--heads", "\(b.heads)",
                                                "--vocab", "\(b.vocab)", "--batch", "\(b.batch)", "--seq-len", "\(b.seqLen)",
                                                "--iterations", "\(b.iterations)", "--dtype", b.dtype.rawValue], missing: "torch/transformers")
            .flatMap { json in
                guard let rate = json["tokens_per_s"] as? Double else { return .failure(UserError("no tokens_per_s in the reference output")) }
                return .success(rate)
            }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension WeightPrecision: ExpressibleByArgument {}
