import CKernelSupport

/// Vector transcendental functions on 16 fp32 lanes (Cephes-style range reduction + polynomial).
/// Relative error ≈ 2 ulp over the clamped range; used by GELU and softmax.
public typealias Vec16 = SIMD16<Float>

@inlinable @inline(__always)
public func simdExp(_ x: Vec16) -> Vec16 {
    let log2e: Float = 1.442_695_040_888_963_4
    let ln2Hi: Float = 0.693_359_375
    let ln2Lo: Float = -2.121_944_40e-4
    // Adding 1.5·2^23 rounds to the nearest integer (ties to even) and leaves it in the low
    // mantissa bits: a vectorisable round and float→int conversion.
    let magic: Float = 12_582_912
    var v = pointwiseMin(pointwiseMax(x, Vec16(repeating: -87.3)), Vec16(repeating: 88.7))
    let shifted = v * log2e + magic
    let n = shifted - magic
    v = v - n * ln2Hi
    v = v - n * ln2Lo
    // exp(r) on |r| <= ln2/2, Cephes expf coefficients.
    var p = Vec16(repeating: 1.987_569_150_0e-4)
    p = p * v + 1.398_199_950_7e-3
    p = p * v + 8.333_451_907_3e-3
    p = p * v + 4.166_579_589_4e-2
    p = p * v + 1.666_666_545_9e-1
    p = p * v + 5.000_000_120_1e-1
    p = p * (v * v) + v + 1
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let bits = (integer &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: Vec16.self)
}

@inline(__always)
public func simdTanh(_ x: Vec16) -> Vec16 {
    // tanh(x) = 1 − 2/(e^{2x} + 1); near 0 this cancels to an absolute error of ~1e-7, which is
    // what GELU (0.5·x·(1 + tanh)) needs. |x| ≥ 9 saturates to ±1 in fp32.
    let c = pointwiseMin(pointwiseMax(x, Vec16(repeating: -9)), Vec16(repeating: 9))
    return 1 - 2 / (simdExp(2 * c) + 1)
}

/// The largest of `count` floats at `x`, 16 lanes at a time; NaN is never the largest (−∞ when
/// every value is NaN or −∞, or there are none).
public func largestValue(_ x: UnsafePointer<Float>, count n: Int) -> Float {
    var best = Vec16(repeating: -.infinity)
    let raw = UnsafeRawPointer(x)
    for i in 0..<(n / 16) {
        let v = raw.loadUnaligned(fromByteOffset: i * 64, as: Vec16.self)
        best.replace(with: v, where: v .> best)
    }
    // The 16 lanes folded in halves (no lane is NaN): `SIMD.max()` walks them one by one, which
    // cost as much as the loop above over a softmax row of attention.
    var half8 = best.lowHalf, other8 = best.highHalf
    half8.replace(with: other8, where: other8 .> half8)
    var half4 = half8.lowHalf, other4 = half8.highHalf
    half4.replace(with: other4, where: other4 .> half4)
    var m = max(max(half4[0], half4[1]), max(half4[2], half4[3]))
    for i in (n / 16 * 16)..<n where x[i] > m { m = x[i] }
    return m
}

/// x = exp(x − m) in place (`simdExp`) over the first count / 16 · 16 floats, returning per lane l
/// the running sum, over each 16 values e, of Double(e[l]) + Double(e[l + 8]) (the logit lens's
/// softmax denominator before its last reduction). AVX-512: C's pass (sampling.c), the same bits.
public func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, count: Int, by m: Float, level: KernelPath = .fp32) -> SIMD8<Double> {
    var acc = SIMD8<Double>()
    if level >= .avx512 {
        withUnsafeMutableBytes(of: &acc) {
            xl_exp_shift_sum(level.rawValue, x, count / 16 * 16, m, $0.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return acc
    }
    let raw = UnsafeMutableRawPointer(x)
    let stride = MemoryLayout<Vec16>.stride
    for i in 0..<(count / 16) {
        let e = simdExp(raw.loadUnaligned(fromByteOffset: i * stride, as: Vec16.self) - m)
        raw.storeBytes(of: e, toByteOffset: i * stride, as: Vec16.self)
        acc += SIMD8<Double>(e.lowHalf) + SIMD8<Double>(e.highHalf)
    }
    return acc
}
