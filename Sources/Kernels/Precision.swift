/// Storage precisions of checkpoint tensors and their conversion to fp32.
public enum Precision {
    /// bfloat16 → fp32: the 16 stored bits are the high half of the fp32 pattern.
    public static func convertBF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
    }

    public static func convertFP16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) }
    }
}
