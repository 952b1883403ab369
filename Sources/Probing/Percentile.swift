/// Percentiles as numpy's default (`method="linear"`): with the values sorted ascending and
/// h = q/100 · (n − 1), the value at h linearly interpolated between its neighbours, using numpy's
/// `_lerp` (a + t·(b − a), or b − (1 − t)·(b − a) when t ≥ 0.5) in double precision.
public enum Percentile {
    public static func of(sorted values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty && q >= 0 && q <= 100)
        let h = q / 100 * Double(values.count - 1)
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, values.count - 1)
        let t = h - Double(lo)
        let a = values[lo], b = values[hi]
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }
}
