import Foundation

/// Numerically stable softmax over one row, in place: exp(x - max) / Σ exp(x - max).
public enum Softmax {
    public static func row(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        // The largest value, NaN never (a zero's sign, which the order could change, changes no
        // exp(x − m) below).
        let m = KernelSwitch.reference ? (0..<n).reduce(-Float.infinity) { max($0, x[$1]) } : largestValue(x, count: n)
        if m == -Float.infinity {  // a fully masked row contributes nothing
            for i in 0..<n { x[i] = 0 }
            return
        }
        var sum: Float = 0
        if KernelSwitch.reference {
            for i in 0..<n { let e = expf(x[i] - m); x[i] = e; sum += e }
        } else {
            let raw = UnsafeMutableRawPointer(x)
            let stride = MemoryLayout<Vec16>.stride
            var acc = Vec16()
            for i in 0..<(n / 16) {
                let e = simdExp(raw.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self) - m)
                raw.storeBytes(of: e, toByteOffset: i * stride, as: Vec16.self)
                acc += e
            }
            sum = acc.sum()
            for i in (n / 16 * 16)..<n { let e = expf(x[i] - m); x[i] = e; sum += e }
        }
        let inv = 1 / sum
        for i in 0..<n { x[i] *= inv }
    }
}
