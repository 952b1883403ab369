/// Degenerate input to a measurement, naming what was wrong and where.
public enum ProbingError: Error, CustomStringConvertible, Equatable {
    case nonFinite(what: String, layer: Int?, unit: Int, row: Int)
    case noPositives(String)
    case noNegatives(String)
    case oneClass(String)
    case empty(String)
    case shape(String)

    public var description: String {
        switch self {
        case .nonFinite(let what, let layer, let unit, let row):
            let place = layer.map { "layer \($0) unit \(unit)" } ?? "dimension \(unit)"
            return "\(what): non-finite value (NaN or ±inf) at \(place), row \(row)"
        case .noPositives(let what): return "\(what): no positive sentences: average precision is undefined"
        case .noNegatives(let what): return "\(what): no negative sentences: average precision is undefined"
        case .oneClass(let what): return "\(what): a probe needs at least two classes with examples"
        case .empty(let what): return "\(what): no data"
        case .shape(let what): return what
        }
    }
}
