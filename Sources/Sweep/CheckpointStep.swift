import Foundation

/// The training step a checkpoint's name or revision states, as published series name them:
/// `step1000`, `global_step1000`, `stage1-step1000-tokens5B`, `ckpt_1000`, or a bare number.
public enum CheckpointStep {
    public static func parse(_ name: String) -> Int? {
        let lower = name.lowercased()
        for marker in ["step", "ckpt_", "ckpt-"] {
            guard let range = lower.range(of: marker, options: .backwards) else { continue }
            let digits = lower[range.upperBound...].prefix { $0.isASCII && $0.isNumber }
            if let step = Int(digits) { return step }
        }
        return lower.allSatisfy({ $0.isASCII && $0.isNumber }) ? Int(lower) : nil
    }

    /// A checkpoint's step from its name, else from its revision; nil when neither states one.
    public static func of(_ checkpoint: SweepConfig.Checkpoint) -> Int? {
        parse(checkpoint.name) ?? checkpoint.revision.flatMap(parse)
    }
}
