import Foundation

/// Language-specific neurons by LAPE, language activation probability entropy (Tang et al., ACL
/// 2024, "Language-Specific Neurons: The Key to Multilingual Capabilities in Large Language
/// Models"; the selection of their reference code, RUCAIBox/Language-Specific-Neurons,
/// `identify.py`). For each unit and language, the probability that the unit's activation is
/// positive over the language's tokens; across languages, the entropy of those probabilities
/// normalised to sum to 1. Units none of whose probabilities exceeds the `filterRate` quantile of
/// all probabilities are dismissed; of the rest, the `topRate` share of all units with the lowest
/// entropy is selected, and a selected unit is specific to every language whose probability
/// exceeds the `activationBarRatio` quantile.
public enum LanguageSpecificNeurons {
    public struct Options: Sendable, Equatable {
        /// The reference's defaults.
        public var topRate = 0.01, filterRate = 0.95, activationBarRatio = 0.95
        public init(topRate: Double = 0.01, filterRate: Double = 0.95, activationBarRatio: Double = 0.95) {
            self.topRate = topRate
            self.filterRate = filterRate
            self.activationBarRatio = activationBarRatio
        }
    }

    public struct Selection: Sendable, Equatable {
        /// `[languages][units]`: whether the unit is specific to the language.
        public let specific: [[Bool]]
        /// The units selected by entropy (before the per-language bar), ascending.
        public let selected: [Int]
        /// The two quantiles of all probabilities: the filter and the activation bar.
        public let filterValue: Double, activationBar: Double
        public let entropy: [Double]
    }

    /// The k-th smallest value (1-based, as torch.kthvalue), k = round-half-even(count · ratio)
    /// (Python's round), kept within 1…count.
    static func quantile(sorted: [Double], _ ratio: Double) -> Double {
        let k = Int((Double(sorted.count) * ratio).rounded(.toNearestOrEven))
        return sorted[min(max(k, 1), sorted.count) - 1]
    }

    /// - Parameter probabilities: `[languages][units]` activation probabilities (units numbered
    ///   layer-major over every layer, as the reference flattens them).
    public static func select(probabilities p: [[Double]], options o: Options = Options()) -> Selection {
        let languages = p.count, units = p.first?.count ?? 0
        guard languages > 0, units > 0 else {
            return Selection(specific: p.map { $0.map { _ in false } }, selected: [], filterValue: .nan, activationBar: .nan, entropy: [])
        }
        var entropy = [Double](repeating: 0, count: units)
        for u in 0..<units {
            let total = (0..<languages).reduce(0.0) { $0 + p[$1][u] }
            guard total > 0 else { continue }   // never active: normalised to 0 (the reference's NaN → 0), entropy 0
            var h = 0.0
            for l in 0..<languages {
                let q = p[l][u] / total
                if q > 0 { h -= q * log(q) }
            }
            entropy[u] = h
        }
        let all = p.flatMap { $0 }.sorted()
        let filterValue = quantile(sorted: all, o.filterRate)
        let activationBar = quantile(sorted: all, o.activationBarRatio)
        for u in 0..<units where !(0..<languages).contains(where: { p[$0][u] > filterValue }) { entropy[u] = .infinity }
        let count = min(units, Int((Double(units) * o.topRate).rounded(.toNearestOrEven)))
        // Lowest entropy first; equal entropies by unit index (torch.topk leaves their order open).
        let order = (0..<units).sorted { entropy[$0] != entropy[$1] ? entropy[$0] < entropy[$1] : $0 < $1 }
        let selected = Array(order.prefix(count)).sorted()
        var specific = [[Bool]](repeating: [Bool](repeating: false, count: units), count: languages)
        for u in selected { for l in 0..<languages where p[l][u] > activationBar { specific[l][u] = true } }
        return Selection(specific: specific, selected: selected, filterValue: filterValue, activationBar: activationBar, entropy: entropy)
    }
}
