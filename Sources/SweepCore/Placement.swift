import Foundation

/// Which worker may take which task: a task that loads its checkpoint's model (extraction,
/// generation) goes only to a worker whose memory holds the weights in the sweep's precision, with
/// room for activations. Pure: the coordinator asks it with what each worker says it may use.
public struct Placement: Sendable, Equatable {
    /// Checkpoint → bytes of its weight matrices in the smallest precision the sweep lets it run
    /// in (`dtype: fp32`: 4 bytes a parameter; `bf16`, and `auto`, which falls back to bf16: 2).
    public let weightBytes: [String: Int]
    /// Weights × this is what a worker must be able to use (activations, caches, the tokenizer).
    public static let headroom = 1.25

    public init(weightBytes: [String: Int]) { self.weightBytes = weightBytes }

    /// Whether `task` loads its checkpoint's model (extraction, generation).
    public static func loadsModel(_ task: SweepTask) -> Bool { [.extract, .generate, .unforced, .lens].contains(task.kind) }

    /// Bytes a worker needs for `task` (0 when it loads no model).
    public func needs(_ task: SweepTask) -> Int {
        Self.loadsModel(task) ? needs(checkpoint: task.checkpoint) : 0
    }

    /// Bytes a worker needs to hold `checkpoint`'s model (0 when its size is not known).
    public func needs(checkpoint: String) -> Int {
        guard let bytes = weightBytes[checkpoint] else { return 0 }
        return Int((Double(bytes) * Self.headroom).rounded(.up))
    }

    /// Nil when a worker that may use `memory` bytes (nil: unknown, taken as enough) can take
    /// `task`; else why not, in one line.
    public func refusal(_ task: SweepTask, memory: Int?) -> String? {
        Self.loadsModel(task) ? refusal(checkpoint: task.checkpoint, memory: memory) : nil
    }

    /// Nil when such a worker can hold `checkpoint`'s model; else why not.
    public func refusal(checkpoint: String, memory: Int?) -> String? {
        let need = needs(checkpoint: checkpoint)
        guard need > 0, let memory, memory < need else { return nil }
        return "cannot hold \(checkpoint): its weights need \(Self.gib(need)) with headroom, "
            + "the worker may use \(Self.gib(memory))"
    }

    static func gib(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / Double(1 << 30)) }
}
