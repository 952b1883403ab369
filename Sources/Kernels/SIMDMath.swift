/// Vector transcendental functions on 16 fp32 lanes (Cephes-style range reduction + polynomial).
/// Relative error ≈ 2 ulp over the clamped range; used by GELU and softmax.
public typealias Vec16 = SIMD16<Float>

@inline(__always)
public func simdExp(_ x: Vec16) -> Vec16 {
    let log2e: Float = 1.442_695_040_888_963_4
    let ln2Hi: Float = 0.693_359_375
    let ln2Lo: Float = -2.121_944_40e-4
    var v = x.clamped(lowerBound: Vec16(repeating: -87.3), upperBound: Vec16(repeating: 88.7))
    let n = (v * log2e).rounded(.toNearestOrEven)
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
    let bits = (SIMD16<Int32>(n, rounding: .toNearestOrEven) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: Vec16.self)
}

@inline(__always)
public func simdTanh(_ x: Vec16) -> Vec16 {
    let c = x.clamped(lowerBound: Vec16(repeating: -9), upperBound: Vec16(repeating: 9))
    let small = (c .< Vec16(repeating: 0.005)) .& (c .> Vec16(repeating: -0.005))
    let e = simdExp(2 * c)
    let big = 1 - 2 / (e + 1)
    // Near zero 1 - 2/(e+1) cancels; tanh(x) = x - x³/3 is exact to fp32 there.
    let series = c - c * c * c / 3
    return big.replacing(with: series, where: small)
}
