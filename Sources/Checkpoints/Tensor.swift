import Kernels

/// Element types a checkpoint may store.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", i16 = "I16",
         i8 = "I8", u8 = "U8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// Overflow-checked sizes of shapes read from files (a hostile header may declare [2^40, 2^40]).
public enum CheckedSize {
    /// The product of `factors`, or nil when any is negative or the product overflows `Int`.
    public static func product(_ factors: [Int]) -> Int? {
        var n = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (m, overflow) = n.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            n = m
        }
        return n
    }

    /// `a + b`, or nil on overflow.
    public static func sum(_ a: Int, _ b: Int) -> Int? {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }
}

/// One stored tensor: where its bytes are and how to read them. Shape is row-major (C order).
public struct TensorRecord: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let file: MappedFile
    public let byteOffset: Int

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.size }
    public var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: file.bytes + byteOffset, count: byteCount) }

    /// The values as fp32 (fp16/bf16 are widened exactly; other dtypes are refused).
    public func floats() throws -> [Float] {
        let n = count
        return try [Float](unsafeUninitializedCapacity: n) { out, initialized in
            let src = file.bytes + byteOffset
            switch dtype {
            case .f32:
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: src, byteCount: n * 4)
            case .f16:
                Precision.convertFP16(src.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count: n)
            case .bf16:
                Precision.convertBF16(src.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count: n)
            case .f64:
                for i in 0..<n { out[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            default:
                throw CheckpointError.unsupportedDType(path: file.path, tensor: name, dtype: dtype.rawValue)
            }
            initialized = n
        }
    }
}

extension TensorRecord {
    /// The values as doubles (exact for F64/F32/F16/BF16).
    public func doubles() throws -> [Double] {
        if dtype == .f64 {
            return (0..<count).map { file.bytes.loadUnaligned(fromByteOffset: byteOffset + $0 * 8, as: Double.self) }
        }
        return try floats().map(Double.init)
    }

    /// Integer tensors (I64, I32, I16, I8, U8, BOOL) as Int.
    public func ints() throws -> [Int] {
        let base = file.bytes + byteOffset
        switch dtype {
        case .i64: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .i16: return (0..<count).map { Int(base.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .i8: return (0..<count).map { Int(base.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<count).map { Int(base.load(fromByteOffset: $0, as: UInt8.self)) }
        default: throw CheckpointError.unsupportedDType(path: file.path, tensor: name, dtype: dtype.rawValue)
        }
    }
}
