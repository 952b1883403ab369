import Foundation

/// A restricted pickle interpreter (protocols 2–5) for PyTorch state dicts. It builds values and
/// never runs code: the only callables are a fixed allowlist of tensor-rebuilding globals
/// (`torch._utils._rebuild_tensor_v2`, storage types, `collections.OrderedDict`, …), each
/// interpreted here. Any other global is refused with its name. Opcode reference: CPython's
/// Lib/pickletools.py.
indirect enum PickleValue {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
    case tuple([PickleValue]), list([PickleValue]), dict([(PickleValue, PickleValue)])
    case global(String)
    /// A persistent id `('storage', StorageType, key, location, numel)`.
    case storage(dtype: DType, key: String, count: Int)
    case tensor(StoredTensor)
    case mark
}

/// A tensor found in the pickle: a view of a storage (dtype, key in `data/`, element offset, shape).
struct StoredTensor {
    let dtype: DType
    let storageKey: String
    let storageCount: Int
    let offset: Int
    let shape: [Int]
    /// Why the view is unusable (sizes that overflow or leave the storage), if it is.
    let problem: String?
}

struct RestrictedUnpickler {
    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .f32, "torch.HalfStorage": .f16, "torch.BFloat16Storage": .bf16,
        "torch.DoubleStorage": .f64, "torch.LongStorage": .i64, "torch.IntStorage": .i32,
        "torch.ShortStorage": .i16, "torch.CharStorage": .i8, "torch.ByteStorage": .u8, "torch.BoolStorage": .bool,
    ]
    static let callables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter", "torch.Tensor",
    ]

    let path: String
    let bytes: UnsafeRawBufferPointer
    var pos = 0
    var stack: [PickleValue] = []
    var memo: [Int: PickleValue] = [:]

    init(path: String, bytes: UnsafeRawBufferPointer) {
        self.path = path
        self.bytes = bytes
    }

    func fail(_ detail: String) -> CheckpointError {
        .unsupportedPickle(path: path, offset: pos, detail: detail)
    }

    mutating func byte() throws -> UInt8 {
        guard pos < bytes.count else { throw CheckpointError.truncated(path: path, detail: "pickle ends at byte \(pos)") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, pos + n <= bytes.count else {
            throw CheckpointError.truncated(path: path, detail: "pickle needs \(n) bytes at byte \(pos)")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }

    mutating func uint(_ n: Int) throws -> Int {
        let b = try take(n)
        var v = 0
        for i in (0..<n).reversed() { v = v << 8 | Int(b[i]) }
        return v
    }

    mutating func line() throws -> String {
        var out: [UInt8] = []
        while true {
            let c = try byte()
            if c == 0x0A { break }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail("stack underflow") }
        return v
    }

    mutating func popMark() throws -> [PickleValue] {
        guard let m = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw fail("no MARK on the stack")
        }
        let items = Array(stack[(m + 1)...])
        stack.removeSubrange(m...)
        return items
    }

    func checkGlobal(_ name: String) throws -> PickleValue {
        if Self.storageTypes[name] != nil || Self.callables.contains(name) { return .global(name) }
        throw CheckpointError.refusedGlobal(path: path, global: name)
    }

    mutating func run() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                       // PROTO
            case 0x95: _ = try take(8)                                      // FRAME
            case 0x2E: return try pop()                                     // STOP
            case 0x28: stack.append(.mark)                                  // MARK
            case 0x4E: stack.append(.none)                                  // NONE
            case 0x88: stack.append(.bool(true))                            // NEWTRUE
            case 0x89: stack.append(.bool(false))                           // NEWFALSE
            case 0x4B: stack.append(.int(try uint(1)))                      // BININT1
            case 0x4D: stack.append(.int(try uint(2)))                      // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A:                                                      // LONG1
                let n = Int(try byte())
                guard n <= 8 else { throw fail("integer of \(n) bytes") }
                let b = try take(n)
                var v: Int64 = 0
                for i in (0..<n).reversed() { v = v << 8 | Int64(b[i]) }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * n) }
                stack.append(.int(Int(v)))
            case 0x47:                                                      // BINFLOAT (big-endian)
                let b = try take(8)
                var bits: UInt64 = 0
                for i in 0..<8 { bits = bits << 8 | UInt64(b[i]) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: let n = try uint(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8C: let n = try uint(1); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8D: let n = try uint(8); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x55: let n = try uint(1); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x54: let n = try uint(4); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43: let n = try uint(1); stack.append(.bytes(Array(try take(n))))
            case 0x42: let n = try uint(4); stack.append(.bytes(Array(try take(n))))
            case 0x29: stack.append(.tuple([]))                             // EMPTY_TUPLE
            case 0x5D: stack.append(.list([]))                              // EMPTY_LIST
            case 0x7D: stack.append(.dict([]))                              // EMPTY_DICT
            case 0x74: stack.append(.tuple(try popMark()))                  // TUPLE
            case 0x85: let a = try pop(); stack.append(.tuple([a]))
            case 0x86: let b = try pop(); let a = try pop(); stack.append(.tuple([a, b]))
            case 0x87: let c = try pop(); let b = try pop(); let a = try pop(); stack.append(.tuple([a, b, c]))
            case 0x6C: stack.append(.list(try popMark()))                   // LIST
            case 0x61:                                                      // APPEND
                let v = try pop()
                guard case .list(var items) = try pop() else { throw fail("APPEND to a non-list") }
                items.append(v); stack.append(.list(items))
            case 0x65:                                                      // APPENDS
                let values = try popMark()
                guard case .list(var items) = try pop() else { throw fail("APPENDS to a non-list") }
                items += values; stack.append(.list(items))
            case 0x73:                                                      // SETITEM
                let v = try pop(); let k = try pop()
                guard case .dict(var items) = try pop() else { throw fail("SETITEM on a non-dict") }
                items.append((k, v)); stack.append(.dict(items))
            case 0x75:                                                      // SETITEMS
                let values = try popMark()
                guard values.count % 2 == 0, case .dict(var items) = try pop() else { throw fail("bad SETITEMS") }
                for i in stride(from: 0, to: values.count, by: 2) { items.append((values[i], values[i + 1])) }
                stack.append(.dict(items))
            case 0x71: memo[try uint(1)] = stack.last                       // BINPUT
            case 0x72: memo[try uint(4)] = stack.last                       // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                        // MEMOIZE
            case 0x68, 0x6A:                                                // BINGET, LONG_BINGET
                let key = try uint(op == 0x68 ? 1 : 4)
                guard let v = memo[key] else { throw fail("memo key \(key) undefined") }
                stack.append(v)
            case 0x63:                                                      // GLOBAL
                let module = try line(), name = try line()
                stack.append(try checkGlobal("\(module).\(name)"))
            case 0x93:                                                      // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                stack.append(try checkGlobal("\(module).\(name)"))
            case 0x51: stack.append(try persistentLoad(try pop()))         // BINPERSID
            case 0x52:                                                      // REDUCE
                let args = try pop()
                guard case .global(let callable) = try pop() else { throw fail("REDUCE on a non-callable") }
                guard case .tuple(let a) = args else { throw fail("REDUCE arguments are not a tuple") }
                stack.append(try call(callable, a))
            case 0x62:                                                      // BUILD: state of an OrderedDict etc.
                _ = try pop()
            default:
                throw fail(String(format: "opcode 0x%02x is outside the tensor-rebuilding subset", Int(op)))
            }
        }
    }

    func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0], case .global(let type) = t[1],
              case .string(let key) = t[2], case .int(let count) = t[4], let dtype = Self.storageTypes[type] else {
            throw fail("persistent id is not a ('storage', type, key, location, numel) tuple")
        }
        return .storage(dtype: dtype, key: key, count: count)
    }

    func ints(_ v: PickleValue) -> [Int]? {
        guard case .tuple(let items) = v else { return nil }
        var out: [Int] = []
        for item in items { guard case .int(let i) = item else { return nil }; out.append(i) }
        return out
    }

    func call(_ callable: String, _ args: [PickleValue]) throws -> PickleValue {
        switch callable {
        case "collections.OrderedDict":
            return .dict([])
        case "torch._utils._rebuild_tensor_v2":
            guard args.count >= 4, case .storage(let dtype, let key, let count) = args[0], case .int(let offset) = args[1],
                  let shape = ints(args[2]), let strides = ints(args[3]) else {
                throw fail("_rebuild_tensor_v2 with unexpected arguments")
            }
            // Sizes are checked here without trapping; a bad one is reported with the tensor's name
            // by the checkpoint reader (the pickle does not know the name yet).
            var problem: String?
            if let elements = CheckedSize.product(shape), CheckedSize.product([count, dtype.size]) != nil {
                // Row-major strides; a suffix product can overflow even when a 0 makes the total 0.
                let expected = shape.indices.map { CheckedSize.product(Array(shape[($0 + 1)...])) ?? -1 }
                let contiguous = zip(zip(shape, strides), expected).allSatisfy { pair, e in pair.0 <= 1 || pair.1 == e }
                if !contiguous {
                    problem = "non-contiguous strides \(strides) for shape \(shape)"
                } else if !(offset >= 0 && (CheckedSize.sum(offset, elements).map { $0 <= count } ?? false)) {
                    problem = "view [\(offset), +\(elements)) is outside its storage of \(count) elements"
                }
            } else {
                problem = "shape \(shape) in a storage of \(count) elements: the size overflows"
            }
            return .tensor(StoredTensor(dtype: dtype, storageKey: key, storageCount: count, offset: offset, shape: shape,
                                        problem: problem))
        case "torch._utils._rebuild_parameter":
            guard let first = args.first, case .tensor = first else { throw fail("_rebuild_parameter without a tensor") }
            return first
        case "torch._tensor._rebuild_from_type_v2":
            // (func, new_type, args, state): rebuild with func(*args), ignore the Python subclass.
            guard args.count >= 3, case .global(let inner) = args[0], case .tuple(let innerArgs) = args[2] else {
                throw fail("_rebuild_from_type_v2 with unexpected arguments")
            }
            return try call(inner, innerArgs)
        default:
            throw CheckpointError.refusedGlobal(path: path, global: callable)
        }
    }
}
