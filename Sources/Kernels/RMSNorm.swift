import Foundation

/// RMSNorm over the last dimension (Zhang & Sennrich 2019) as Gemma's `Gemma3RMSNorm`:
/// y = x · (mean(x²) + eps)^-½ · gain, in fp32, with Gemma's gain = 1 + weight passed in.
public enum RMSNorm {
    /// - Parameters: x, y: `[rows, dim]` row-major (may alias); gain: `[dim]`.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                               gain: UnsafePointer<Float>, eps: Float) {
        let src = SharedPointer(UnsafeMutablePointer(mutating: x)), dst = SharedPointer(y)
        let g = SharedPointer(UnsafeMutablePointer(mutating: gain))
        parallelChunks(rows, minimumChunk: max(1, 8192 / max(1, dim))) { chunk in
            for r in chunk { row(src.base + r * dim, dst.base + r * dim, dim, g.base, eps) }
        }
    }

    @inline(__always)
    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ gain: UnsafePointer<Float>,
                    _ eps: Float) {
        var acc = SIMD16<Float>()
        var i = 0
        let raw = UnsafeRawPointer(x)
        if !KernelSwitch.reference {
            while i + 16 <= n {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                acc += v * v
                i += 16
            }
        }
        var sum = acc.sum()
        while i < n { sum += x[i] * x[i]; i += 1 }
        let inverse = 1 / (sum / Float(n) + eps).squareRoot()
        for j in 0..<n { y[j] = x[j] * inverse * gain[j] }
    }
}
