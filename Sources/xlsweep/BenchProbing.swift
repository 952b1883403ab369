import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Probing

struct BenchProbing: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probing",
        abstract: "Average precision over every MLP unit and a language-ID probe fit, next to scikit-learn.",
        discussion: """
            AP: --units units (default 98,304 = BLOOM-560m's 24 × 4,096) × --sentences pooled sentences,
            10% positives; xlsweep ranks every unit once (the per-language work) and then scores one
            concept. scikit-learn's average_precision_score runs per unit on the first --sklearn-units
            units of the same data; its time is scaled to all units.
            Probe: --languages classes × --tokens-per-language rows × --dims features with class structure,
            one stratified 80/20 split used by both sides; StandardScaler + LogisticRegression(C=1).
            The data go to tools/bench_probing_sklearn.py through a temporary directory.
            """)

    @Option(help: "Units scored for one concept.") var units = 98_304
    @Option(help: "Sentences in the pool.") var sentences = 400
    @Option(help: "Units scikit-learn's per-unit loop is timed on.") var sklearnUnits = 1_000
    @Option(help: "Probe classes.") var languages = 16
    @Option(help: "Probe rows per class.") var tokensPerLanguage = 1_000
    @Option(help: "Probe features.") var dims = 1_024
    @Flag(help: "Skip the scikit-learn reference run.") var noSklearn = false
    @Flag(help: "Print a checksum of every AP and probe weight (for determinism checks).") var checksum = false

    func validate() throws {
        guard units > 0, sentences >= 10, sklearnUnits > 0, languages >= 2, tokensPerLanguage >= 5, dims > 0 else {
            throw ValidationError("sizes must be positive (≥ 10 sentences, ≥ 2 languages, ≥ 5 rows per language)")
        }
    }

    static func seconds(since t0: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
    }

    func run() throws {
        var rng = SplitMix64(seed: 42)
        func gaussian() -> Float {
            let u1 = max(rng.nextUniform(), 1e-300), u2 = rng.nextUniform()
            return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
        }
        let (units, sentences, dims, languages) = (self.units, self.sentences, self.dims, self.languages)
        // AP data: noise plus a weak concept signal on a tenth of the units.
        let positives = Array(stride(from: 0, to: sentences, by: 10))
        var scores = (0..<(sentences * units)).map { _ in gaussian() }
        for s in positives { for u in stride(from: 0, to: units, by: 10) { scores[s * units + u] += 0.8 } }
        var labels = [Int32](repeating: 0, count: sentences)
        for s in positives { labels[s] = 1 }

        let t0 = DispatchTime.now()
        let ranking = try UnitRanking(activations: scores, sentences: sentences, units: units)
        let rankSeconds = Self.seconds(since: t0)
        let t1 = DispatchTime.now()
        let aps = try ranking.averagePrecision(positives: positives)
        let conceptSeconds = Self.seconds(since: t1)

        // Probe data.
        let n = languages * tokensPerLanguage
        let centers = (0..<(languages * dims)).map { _ in gaussian() * 0.12 }
        let y = (0..<n).map { $0 % languages }
        let x = (0..<(n * dims)).map { i in gaussian() + centers[y[i / dims] * dims + i % dims] }
        let (train, test) = LanguageProbe.stratifiedSplit(labels: y, testFraction: 0.2, seed: 0)
        let t2 = DispatchTime.now()
        let scaler = Standardizer(rows: train, of: x, d: dims)
        let standardized = scaler.transform(rows: train, of: x)
        let scaleSeconds = Self.seconds(since: t2)
        let model = try LogisticRegression.fit(x: standardized, y: train.map { y[$0] }, classes: languages)
        let probeSeconds = Self.seconds(since: t2)
        let predicted = model.predict(scaler.transform(rows: test, of: x))
        let accuracy = Double(zip(predicted, test.map { y[$0] }).filter { $0 == $1 }.count) / Double(test.count)

        print("xlsweep bench probing: AP \(units) units × \(sentences) sentences (\(positives.count) positives); "
            + "probe \(languages) classes × \(tokensPerLanguage) rows × \(dims) dims; \(kernelThreads) threads")
        var reference: [String: Any]?
        var note: String?
        if noSklearn {
            note = "scikit-learn reference skipped (--no-sklearn)"
        } else {
            switch sklearnReference(scores: scores, labels: labels, x: x, y: y, train: train, test: test) {
            case .success(let r): reference = r
            case .failure(let e): note = "scikit-learn reference skipped: \(e.description)"
            }
        }
        let ours = rankSeconds + conceptSeconds
        // The probe fit's multiply-adds: every evaluation of the objective and its gradient is two
        // products of the standardised rows [n, d] with the weights [d, classes].
        let peak = PeakRates.measure()
        let fitFLOPs = Double(model.evaluations) * 4 * Double(train.count * dims * languages)
        func share(_ seconds: Double) -> String { peak.share(fitFLOPs / seconds / 1e9) }
        let row = { (name: String, a: String, b: String, c: String, d: String) in
            print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + a.leftPad(12) + b.leftPad(12) + d.leftPad(11) + c.leftPad(10))
        }
        row("", "seconds", "accuracy", "speed-up", "% of peak")
        if let r = reference, let measured = r["ap_seconds"] as? Double, let m = r["ap_units"] as? Int {
            let scaled = measured * Double(units) / Double(m)
            row("AP, one concept (rank + score), xlsweep", String(format: "%.3f", ours), "", String(format: "%.0f×", scaled / ours), "–")
            row("AP, each further concept of the language", String(format: "%.3f", conceptSeconds), "",
                String(format: "%.0f×", scaled / conceptSeconds), "–")
            row("AP, scikit-learn (\(m) units, scaled)", String(format: "%.1f", scaled), "", "1×", "–")
            let refAPs = r["ap"] as? [Double] ?? []
            let maxError = zip(refAPs, aps).map { abs($0 - $1) }.max() ?? .nan
            print(String(format: "AP max |xlsweep − scikit-learn| over %d units: %.2e", refAPs.count, maxError))
        } else {
            row("AP, one concept (rank + score), xlsweep", String(format: "%.3f", ours), "", "", "–")
            row("AP, each further concept of the language", String(format: "%.3f", conceptSeconds), "", "", "–")
        }
        if let r = reference, let s = r["probe_seconds"] as? Double, let acc = r["probe_accuracy"] as? Double {
            row("probe fit, xlsweep (\(model.iterations) it., \(model.evaluations) evals)", String(format: "%.3f", probeSeconds),
                String(format: "%.4f", accuracy), String(format: "%.1f×", s / probeSeconds), share(probeSeconds))
            row("probe fit, scikit-learn (\(r["probe_iterations"] ?? "?") iterations)", String(format: "%.3f", s),
                String(format: "%.4f", acc), "1×", "")
        } else {
            row("probe fit, xlsweep (\(model.iterations) it., \(model.evaluations) evals)", String(format: "%.3f", probeSeconds),
                String(format: "%.4f", accuracy), "", share(probeSeconds))
        }
        print(String(format: "probe fit time includes %.3f s of standardisation; AP time includes %.3f s of ranking",
                     scaleSeconds, rankSeconds))
        print(String(format: "%% of peak: the fit's multiply-adds (4·n·d·classes per evaluation) against the fp32 peak, %.1f GFLOP/s on %d threads "
                     + "(bench peak, this run); AP ranks and counts, it does no multiply-adds (–)", peak.fp32, peak.threads))
        if let note { print(note) }
        if checksum {
            var h = Hasher64()
            for a in aps { h.add(a.bitPattern) }
            for w in model.weights { h.add(UInt64(w.bitPattern)) }
            print(String(format: "checksum %016llx", h.value))
        }
    }

    func sklearnReference(scores: [Float], labels: [Int32], x: [Float], y: [Int], train: [Int], test: [Int])
        -> Result<[String: Any], UserError> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            func write<T>(_ name: String, _ values: [T]) throws {
                try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir + "/" + name)) }
            }
            try write("ap_scores.f32", scores)
            try write("ap_labels.i32", labels)
            try Data("{\"sentences\": \(sentences), \"units\": \(units)}".utf8).write(to: URL(fileURLWithPath: dir + "/ap_shape.json"))
            try write("probe_x.f32", x)
            try write("probe_y.i32", y.map(Int32.init))
            try write("probe_train.i32", train.map(Int32.init))
            try write("probe_test.i32", test.map(Int32.init))
            try Data("{\"n\": \(y.count), \"d\": \(dims)}".utf8).write(to: URL(fileURLWithPath: dir + "/probe_shape.json"))
        } catch {
            return .failure(UserError("cannot write the shared data: \(error)"))
        }
        return runReference("bench_probing_sklearn.py", [dir, "--ap-units", "\(min(sklearnUnits, units))"], missing: "scikit-learn")
    }
}

/// FNV-1a over 64-bit words, for output checksums.
struct Hasher64 {
    var value: UInt64 = 0xCBF2_9CE4_8422_2325
    mutating func add(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) {
            value = (value ^ ((word >> UInt64(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3
        }
    }
}
