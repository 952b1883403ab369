import Foundation
import Kernels
import Logging
import Models
import Probing
import Store
import SweepCore
import Tokenization

/// Runs one task of a sweep and writes its fragment; one file per task kind beside this one
/// holds the task and the value type of its fragment. A worker keeps the last checkpoint it
/// loaded (the coordinator prefers giving it more work on that checkpoint).
public final class TaskRunner {
    public let sweep: ResolvedSweep
    public var data: DataSet { sweep.data }
    public let store: FragmentStore
    /// The checkpoint in memory, with its weights and tokenizer fingerprints (hashed once per load).
    var loaded: (name: String, model: LoadedModel, tokenizer: String)?
    var identifier: LanguageIdentifier?
    /// The logit lens's token attribution of the checkpoint in memory (by its tokenizer's fingerprint).
    var attribution: (tokenizer: String, value: TokenAttribution)?
    /// Runtime messages (which precision and kernels each checkpoint got), with task and checkpoint metadata.
    public var logger = Logger(label: "xlsweep.task")

    public init(sweep: ResolvedSweep) throws {
        self.sweep = sweep
        store = sweep.fragments
    }

    /// The checkpoint currently in memory, if any.
    public var heldCheckpoint: String? { loaded?.name }

    func model(_ checkpoint: String) throws -> LoadedModel {
        if let l = loaded, l.name == checkpoint { return l.model }
        // Only the tokenizer is kept from the model in memory: its weights go before the next load.
        let previous = loaded.map { (digest: $0.tokenizer, tokenizer: $0.model.tokenizer) }
        loaded = nil
        guard let dir = sweep.directories[checkpoint] else { throw SweepError("unknown checkpoint '\(checkpoint)'") }
        let tokenizer = sweep.tokenizers[checkpoint] ?? dir + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: tokenizer) else { throw SweepError("\(tokenizer): no such file (the checkpoint's tokenizer)", code: .node) }
        // A series' checkpoints share one tokenizer as a rule (BLOOM's intermediate branches all
        // name the final model's): the one in memory is kept when the file's bytes are the same.
        let digest = try Fragment.sha256(ofFile: tokenizer)
        let known = previous.flatMap { $0.digest == digest ? $0.tokenizer : nil }
        let m = try LoadedModel.load(dir, tokenizerPath: tokenizer, dtype: sweep.config.dtype, reusing: known)
        logger.info("\(checkpoint): \(m.precisionNote)", metadata: ["checkpoint": "\(checkpoint)"])
        loaded = (checkpoint, m, digest)
        return m
    }

    /// The inputs the plan derives for `task` (what its fragment is bound to).
    func inputs(_ task: SweepTask) -> TaskInputs { sweep.inputs.inputs[task.id]! }

    /// Writes `task`'s fragment, bound to its inputs and to the content of the fragments it read —
    /// its dependencies in the plan, declared there once — with where and when it ran.
    func write(_ task: SweepTask, _ body: (HDF5Writer) throws -> Void) throws {
        try store.write(task.id, inputs: inputs(task), read: sweep.plan.dependencies[task.id] ?? [], provenance: provenance, body)
    }

    /// Who runs the tasks (host, worker id, attempt of the current task), as the worker says.
    public var placement: (host: String, worker: String, attempt: Int) = (ProcessInfo.processInfo.hostName, "local:\(getpid())", 1)
    var started = Date()

    /// Where and when the current task ran, and this process's peak memory while it ran (since
    /// the task started where Linux can reset the high-water mark, else since the process did):
    /// attributes of its fragment beside what binds it (they change no result).
    func provenance() -> [String: String] {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peak = (peakIsPerTask ? MemoryInfo.peakResidentBytes() : nil) ?? Int(usage.ru_maxrss) * 1024
        return ["task_started": String(format: "%.3f", started.timeIntervalSince1970),
                "task_seconds": String(format: "%.3f", Date().timeIntervalSince(started)),
                "task_host": placement.host, "task_worker": placement.worker, "task_attempt": String(placement.attempt),
                "task_cpu": "\(KernelPath.active)",
                "task_peak_rss_bytes": String(peak)]
    }

    /// Whether the high-water mark was reset when the current task started.
    var peakIsPerTask = false

    public func run(_ task: SweepTask) throws {
        // What earlier tasks freed goes back to the system, and the peak is this task's own.
        Heap.returnFree()
        peakIsPerTask = MemoryInfo.resetPeakResident()
        started = Date()
        let seed = task.seed(sweepSeed: sweep.config.seed)
        switch task.kind {
        case .extract: try extract(task, seed: seed)
        case .probe: try probe(task, seed: seed)
        case .expertise: try expertise(task)
        case .alignment: try alignment(task, seed: seed)
        case .lape: try lape(task)
        case .generate: try generate(task, seed: seed)
        case .unforced: try unforced(task, seed: seed)
        case .lens: try lens(task, seed: seed)
        }
    }

    /// Token ids without the tokenizer's special tokens (BOS-like tokens are not probed or pooled).
    func encode(_ text: String, _ tokenizer: Tokenizer) -> (ids: [Int], keep: [Bool]) {
        let ids = tokenizer.encode(text)
        let special = tokenizer.specialTokenIDs
        return (ids, ids.map { !special.contains($0) })
    }

    /// Forward passes over `texts` in batches: per sequence, per site, its rows (views into the
    /// forward's output, not copies) with the kept tokens marked, and the kept tokens' ids.
    func activations(_ texts: [String], sites: [HookSite], model m: LoadedModel,
                     _ body: (Int, [HookSite: SentenceRows], [Int]) throws -> Void) throws {
        let tokenizer = m.tokenizer!
        let encoded = texts.map { encode($0, tokenizer) }
        let batch = sweep.config.batchSize
        var start = 0
        while start < texts.count {
            let indices = Array(start..<min(texts.count, start + batch)).filter { !encoded[$0].ids.isEmpty }
            start += batch
            if indices.isEmpty { continue }
            let out = try m.model.forward(indices.map { encoded[$0].ids }, request: ForwardRequest(sites: Set(sites)))
            var row = 0
            for (b, index) in indices.enumerated() {
                let (ids, keep) = encoded[index]
                let kept = keep.indices.filter { keep[$0] }
                var rows: [HookSite: SentenceRows] = [:]
                for site in sites {
                    let width = site.width(m.config)
                    guard let packed = out.activations[site] else { continue }
                    rows[site] = SentenceRows(rows: packed[(row * width)..<((row + ids.count) * width)], width: width, kept: kept)
                }
                row += out.lengths[b]
                try body(index, rows, kept.map { ids[$0] })
            }
        }
    }

    func languageIdentifier() throws -> LanguageIdentifier {
        if let identifier { return identifier }
        var training = data.probe
        for lang in sweep.config.languages where training[lang]?.isEmpty ?? true { training[lang] = ["?"] }
        let lid = try LanguageIdentifier(training: training)
        identifier = lid
        return lid
    }
}

/// One sentence's activations at one site: every token's row `[tokens, width]` (a view into the
/// forward's output) and the positions of the kept tokens (special tokens are not kept).
struct SentenceRows {
    let rows: ArraySlice<Float>
    let width: Int
    let kept: [Int]

    /// Kept token `k`'s row.
    func row(_ k: Int) -> ArraySlice<Float> {
        let at = rows.startIndex + kept[k] * width
        return rows[at..<(at + width)]
    }

    /// The kept tokens' rows `[kept, width]`: a view when they are consecutive (all but a leading
    /// BOS, as a rule), else a copy.
    var keptRows: ArraySlice<Float> {
        guard let first = kept.first else { return rows[rows.startIndex..<rows.startIndex] }
        if kept.last! - first + 1 == kept.count {
            return rows[(rows.startIndex + first * width)..<(rows.startIndex + (first + kept.count) * width)]
        }
        var copy: [Float] = []
        copy.reserveCapacity(kept.count * width)
        for k in kept.indices { copy += row(k) }
        return copy[...]
    }
}
