import Foundation

/// LayerNorm over the last dimension (Ba et al. 2016), as torch.nn.LayerNorm: biased variance.
public enum LayerNorm {
    /// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta for r in 0..<rows.
    /// - Parameters: x, y: `[rows, dim]` row-major (may alias); gamma, beta: `[dim]`.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float) {
        let src = SharedPointer(UnsafeMutablePointer(mutating: x))
        let dst = SharedPointer(y)
        let g = SharedPointer(UnsafeMutablePointer(mutating: gamma))
        let b = SharedPointer(UnsafeMutablePointer(mutating: beta))
        parallelChunks(rows, minimumChunk: 4) { chunk in
            for r in chunk {
                if KernelSwitch.reference || dim % 16 != 0 {
                    row(src.base + r * dim, dst.base + r * dim, dim, g.base, b.base, eps)
                } else {
                    rowSIMD(src.base + r * dim, dst.base + r * dim, dim, g.base, b.base, eps)
                }
            }
        }
    }

    @inline(__always)
    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                    _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>, _ eps: Float) {
        var sum: Float = 0
        for i in 0..<n { sum += x[i] }
        let mean = sum / Float(n)
        var sq: Float = 0
        for i in 0..<n { let d = x[i] - mean; sq += d * d }
        let inv = 1 / (sq / Float(n) + eps).squareRoot()
        for i in 0..<n { y[i] = (x[i] - mean) * inv * gamma[i] + beta[i] }
    }

    @inline(__always)
    static func rowSIMD(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                        _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>, _ eps: Float) {
        let xs = UnsafeRawPointer(x), gs = UnsafeRawPointer(gamma), bs = UnsafeRawPointer(beta)
        let ys = UnsafeMutableRawPointer(y)
        let stride = MemoryLayout<Vec16>.stride
        var acc = Vec16()
        for i in 0..<(n / 16) { acc += xs.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self) }
        let mean = acc.sum() / Float(n)
        var sq = Vec16()
        for i in 0..<(n / 16) {
            let d = xs.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self) - mean
            sq += d * d
        }
        let inv = 1 / (sq.sum() / Float(n) + eps).squareRoot()
        for i in 0..<(n / 16) {
            let v = xs.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self)
            let g = gs.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self)
            let b = bs.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self)
            ys.storeBytes(of: (v - mean) * inv * g + b, toByteOffset: i * stride, as: Vec16.self)
        }
    }
}
