import Models
import SweepCore

extension Placement {
    /// Each checkpoint's weights in the precision its workers will hold them (from the weight tables).
    public init(sweep: ResolvedSweep) {
        let perParameter = sweep.config.dtype == .fp32 ? 4 : 2
        self.init(weightBytes: sweep.modelConfigs.mapValues { WeightTable.of($0).parameterCount * perParameter })
    }
}
