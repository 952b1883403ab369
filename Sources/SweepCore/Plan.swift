import Crypto
import Foundation

/// The kinds of work in a sweep. The unit of scheduling is the work that shares a forward pass
/// (DESIGN.md §5): one extraction per (checkpoint, language) yields every layer.
public enum TaskKind: String, Sendable, CaseIterable {
    case extract, probe, expertise, alignment, lape, generate
    /// Generation with nothing forced, once per checkpoint: the base rate the forced cells compare to.
    case unforced
    /// The logit lens per (checkpoint, language), from the extraction's probe tokens.
    case lens

    /// Relative cost the scheduler orders work by (BENCHMARKS.md, the paper-scale case: an
    /// extraction ≈ 100 s of one core, one generation run ≈ 40 s — a cell is its experts' run and
    /// three control draws by default, the unforced base rate one run — the probing tasks a few seconds).
    public var expectedCost: Double {
        switch self {
        case .extract: return 10
        case .generate: return 16
        case .unforced: return 4
        case .lens: return 1
        case .expertise, .alignment: return 1
        case .probe, .lape: return 0.5
        }
    }
}

/// One cell of work, named by its place in the grid.
public struct SweepTask: Hashable, Sendable, CustomStringConvertible {
    public let kind: TaskKind
    public let checkpoint: String
    public let layer: Int?
    public let language: String?
    public let concept: String?

    public init(kind: TaskKind, checkpoint: String, layer: Int?, language: String?, concept: String?) {
        self.kind = kind
        self.checkpoint = checkpoint
        self.layer = layer
        self.language = language
        self.concept = concept
    }

    // The grid's cells by name: the one place a task's identity is spelled.
    public static func extract(_ checkpoint: String, _ language: String) -> SweepTask {
        SweepTask(kind: .extract, checkpoint: checkpoint, layer: nil, language: language, concept: nil)
    }
    public static func probe(_ checkpoint: String, layer: Int) -> SweepTask {
        SweepTask(kind: .probe, checkpoint: checkpoint, layer: layer, language: nil, concept: nil)
    }
    public static func expertise(_ checkpoint: String, _ language: String) -> SweepTask {
        SweepTask(kind: .expertise, checkpoint: checkpoint, layer: nil, language: language, concept: nil)
    }
    public static func alignment(_ checkpoint: String) -> SweepTask {
        SweepTask(kind: .alignment, checkpoint: checkpoint, layer: nil, language: nil, concept: nil)
    }
    public static func lape(_ checkpoint: String) -> SweepTask {
        SweepTask(kind: .lape, checkpoint: checkpoint, layer: nil, language: nil, concept: nil)
    }
    public static func generate(_ checkpoint: String, concept: String, _ language: String) -> SweepTask {
        SweepTask(kind: .generate, checkpoint: checkpoint, layer: nil, language: language, concept: concept)
    }
    public static func unforced(_ checkpoint: String) -> SweepTask {
        SweepTask(kind: .unforced, checkpoint: checkpoint, layer: nil, language: nil, concept: nil)
    }
    public static func lens(_ checkpoint: String, _ language: String) -> SweepTask {
        SweepTask(kind: .lens, checkpoint: checkpoint, layer: nil, language: language, concept: nil)
    }

    /// Stable identity, e.g. `extract/step1000/es`, `probe/step1000/12`, `generate/step1000/joy/es`.
    public var id: String {
        ([kind.rawValue, checkpoint] + [layer.map(String.init), concept, language].compactMap { $0 }).joined(separator: "/")
    }

    public var description: String { id }

    /// A seed derived from the cell's identity alone (first 8 bytes of SHA-256 of the sweep seed and
    /// the task id), so results do not depend on which worker ran what, or when.
    public func seed(sweepSeed: UInt64) -> UInt64 { Self.seed(sweepSeed: sweepSeed, name: id) }

    /// The seed of any named stream of the sweep (`<task id>/control/<draw>`, `bootstrap/…`), the same way.
    public static func seed(sweepSeed: UInt64, name: String) -> UInt64 {
        SHA256.hash(data: Array("xlsweep/\(sweepSeed)/\(name)".utf8)).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// The sweep as a dependency graph: extraction per (checkpoint, language) feeds probes per
/// (checkpoint, layer) and expertise per (checkpoint, language); alignment per checkpoint needs
/// every language's expertise; generation per (checkpoint, concept, language) needs that
/// language's experts; the logit lens per (checkpoint, language) needs that language's extraction. Tasks are listed checkpoint by checkpoint, in dependency order.
public struct Plan: Sendable {
    public let tasks: [SweepTask]
    /// task id → ids it waits for.
    public let dependencies: [String: [String]]

    /// - Parameters: layers: checkpoint name → number of transformer layers (probes run on
    ///   hidden.0…hidden.n); concepts: the concepts scored and forced.
    public init(checkpoints: [String], languages: [String], layers: [String: Int], concepts: [String],
                generation: Bool, generationConcepts: [String]? = nil, lens: Bool = false) {
        var tasks: [SweepTask] = [], deps: [String: [String]] = [:]
        func add(_ t: SweepTask, after: [SweepTask]) {
            tasks.append(t)
            deps[t.id] = after.map(\.id)
        }
        for c in checkpoints {
            let extracts = languages.map { SweepTask.extract(c, $0) }
            for e in extracts { add(e, after: []) }
            for l in 0...(layers[c] ?? 0) {
                add(SweepTask.probe(c, layer: l), after: extracts)
            }
            var expertise: [SweepTask] = []
            for (i, lang) in languages.enumerated() {
                let e = SweepTask.expertise(c, lang)
                add(e, after: [extracts[i]])
                expertise.append(e)
            }
            if lens {
                for (i, lang) in languages.enumerated() {
                    add(SweepTask.lens(c, lang), after: [extracts[i]])
                }
            }
            // Alignment's permutation baseline re-reads every language's pool.
            add(SweepTask.alignment(c), after: expertise + extracts)
            // Language-specific neurons (LAPE) compare every language's activation probabilities.
            add(SweepTask.lape(c), after: extracts)
            if generation {
                add(SweepTask.unforced(c), after: [])
                for concept in generationConcepts ?? concepts {
                    for (i, lang) in languages.enumerated() {
                        add(SweepTask.generate(c, concept: concept, lang),
                            after: [expertise[i]])
                    }
                }
            }
        }
        self.tasks = tasks
        dependencies = deps
    }

    /// Tasks not in `done` whose dependencies all are, in plan order.
    public func ready(done: Set<String>) -> [SweepTask] {
        tasks.filter { !done.contains($0.id) && (dependencies[$0.id] ?? []).allSatisfy(done.contains) }
    }

    public func count(_ kind: TaskKind) -> Int { tasks.filter { $0.kind == kind }.count }
}
