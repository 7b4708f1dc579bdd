import SegcCore
import SegcIR

/// Import-time evaluation of ops whose inputs are all constants (shape
/// arithmetic, zero tensors, index constants).
extension Tensor {
    var isIntegral: Bool { dtype != .f32 && dtype != .f64 }

    func doubles() -> [Double] {
        switch storage {
        case .f64(let a): return a
        case .f32(let a): return a.map { Double($0) }
        default: return int64s().map { Double($0) }
        }
    }

    static func make(_ dtype: DType, _ shape: [Int], ints v: [Int64]) -> Tensor {
        switch dtype {
        case .f32: return Tensor(dtype: .f32, shape: shape, storage: .f32(v.map { Float($0) }))
        case .f64: return Tensor(dtype: .f64, shape: shape, storage: .f64(v.map { Double($0) }))
        case .i32, .i16: return Tensor(dtype: .i32, shape: shape, storage: .i32(v.map { Int32(truncatingIfNeeded: $0) }))
        case .i8, .qi8: return Tensor(dtype: .i8, shape: shape, storage: .i8(v.map { Int8(truncatingIfNeeded: $0) }))
        case .u8, .qu8: return Tensor(dtype: .u8, shape: shape, storage: .u8(v.map { UInt8(truncatingIfNeeded: $0) }))
        case .bool: return Tensor(dtype: .bool, shape: shape, storage: .bool(v.map { $0 != 0 }))
        case .i64: return Tensor(dtype: .i64, shape: shape, storage: .i64(v))
        }
    }

    static func make(_ dtype: DType, _ shape: [Int], doubles v: [Double]) -> Tensor {
        switch dtype {
        case .f32: return Tensor(dtype: .f32, shape: shape, storage: .f32(v.map { Float($0) }))
        case .f64: return Tensor(dtype: .f64, shape: shape, storage: .f64(v))
        case .bool: return Tensor(dtype: .bool, shape: shape, storage: .bool(v.map { $0 != 0 }))
        default: return make(dtype, shape, ints: v.map { Fold.toInt64($0) })
        }
    }

    /// Elements at flat positions `idx`, as a tensor of `shape`.
    func gather(_ idx: [Int], shape: [Int]) -> Tensor {
        let s: TensorStorage
        switch storage {
        case .f32(let a): s = .f32(idx.map { a[$0] })
        case .f64(let a): s = .f64(idx.map { a[$0] })
        case .i64(let a): s = .i64(idx.map { a[$0] })
        case .i32(let a): s = .i32(idx.map { a[$0] })
        case .i8(let a): s = .i8(idx.map { a[$0] })
        case .u8(let a): s = .u8(idx.map { a[$0] })
        case .bool(let a): s = .bool(idx.map { a[$0] })
        }
        return Tensor(dtype: dtype, shape: shape, storage: s)
    }

    func reshaped(_ shape: [Int]) -> Tensor {
        var t = self
        t.shape = shape
        return t
    }

    /// True when every element is zero (NaN/inf are not zero).
    var isAllZero: Bool {
        switch storage {
        case .f32(let a): return a.allSatisfy { $0 == 0 }
        case .f64(let a): return a.allSatisfy { $0 == 0 }
        default: return int64s().allSatisfy { $0 == 0 }
        }
    }
}

enum Fold {
    static func toInt64(_ d: Double) -> Int64 {
        if d.isNaN { return 0 }
        if d >= 9.2e18 { return Int64.max }
        if d <= -9.2e18 { return Int64.min }
        return Int64(d.rounded(.towardZero))
    }

    /// Row-major strides. Checked: a constant with no elements (a 0 dim) may have other
    /// dims whose product overflows Int, e.g. [0, 2^31-1, 2^31-1, 2^31-1].
    static func strides(_ s: [Int]) throws(SegcError) -> [Int] {
        var st = [Int](repeating: 1, count: s.count)
        var acc = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) { st[i] = acc; acc = try Checked.mul(acc, s[i], "strides of \(s)") }
        return st
    }

    /// Product of `dims`, checked for the same reason as `strides`.
    static func product(_ dims: ArraySlice<Int>) throws(SegcError) -> Int {
        var n = 1
        for d in dims { n = try Checked.mul(n, d, "product of the dimensions \(Array(dims))") }
        return n
    }

    /// Element count, checked against the limits.
    static func count(_ shape: [Int], _ what: String) throws(SegcError) -> Int {
        let n = try Checked.elementCount(shape, what)
        try Limits.check(try Checked.mul(n, 8, what), Limits.maxAllocationBytes, "\(what) size in bytes")
        return n
    }

    /// For each element of `out`, the flat index of the element of a tensor of
    /// `shape` that numpy broadcasting maps to it.
    static func broadcastIndex(_ shape: [Int], to out: [Int]) throws(SegcError) -> [Int] {
        let r = out.count
        let pad = r - shape.count
        let inStrides = try strides(shape)
        var st = [Int](repeating: 0, count: r)
        for d in 0..<r where d >= pad && shape[d - pad] != 1 { st[d] = inStrides[d - pad] }
        let n = try count(out, "broadcast result")
        var idx = [Int](repeating: 0, count: n)
        var coord = [Int](repeating: 0, count: r)
        var cur = 0
        for i in 0..<n {
            idx[i] = cur
            var d = r - 1
            while d >= 0 {
                coord[d] += 1
                cur += st[d]
                if coord[d] < out[d] { break }
                cur -= st[d] * coord[d]
                coord[d] = 0
                d -= 1
            }
        }
        return idx
    }

    static func broadcastShape(_ a: [Int], _ b: [Int]) throws(SegcError) -> [Int] {
        try ShapeInference.broadcast(a, b) { SegcError(.mismatch, $0) }
    }

    /// Elementwise binary op on constants (numpy broadcasting).
    static func binary(_ a: Tensor, _ b: Tensor, _ op: String) throws(SegcError) -> Tensor {
        let out = try broadcastShape(a.shape, b.shape)
        let ia = try broadcastIndex(a.shape, to: out), ib = try broadcastIndex(b.shape, to: out)
        if a.isIntegral && b.isIntegral {
            let x = a.int64s(), y = b.int64s()
            var r = [Int64](repeating: 0, count: ia.count)
            for i in 0..<ia.count {
                let p = x[ia[i]], q = y[ib[i]]
                switch op {
                case "Add": r[i] = p &+ q
                case "Sub": r[i] = p &- q
                case "Mul": r[i] = p &* q
                default:
                    if q == 0 { throw SegcError(.malformed, "integer division by zero in a constant") }
                    r[i] = (p == Int64.min && q == -1) ? Int64.min : p / q
                }
            }
            return Tensor.make(a.dtype, out, ints: r)
        }
        let x = a.doubles(), y = b.doubles()
        var r = [Double](repeating: 0, count: ia.count)
        let f32 = a.dtype == .f32 || b.dtype == .f32
        for i in 0..<ia.count {
            let p = x[ia[i]], q = y[ib[i]]
            var v: Double
            switch op {
            case "Add": v = p + q
            case "Sub": v = p - q
            case "Mul": v = p * q
            default: v = p / q
            }
            if f32 { v = Double(Float(p).combine(Float(q), op)) }
            r[i] = v
        }
        return Tensor.make(a.isIntegral ? b.dtype : a.dtype, out, doubles: r)
    }

    static func iota(_ shape: [Int]) throws(SegcError) -> Tensor {
        let n = try count(shape, "index constant")
        return Tensor(dtype: .i64, shape: shape, storage: .i64((0..<n).map { Int64($0) }))
    }

    static func transpose(_ t: Tensor, _ perm: [Int]) throws(SegcError) -> Tensor {
        let r = t.shape.count
        let outShape = perm.map { t.shape[$0] }
        let st = try strides(t.shape)
        var pst = perm.map { st[$0] }
        let n = try count(outShape, "Transpose result")
        var idx = [Int](repeating: 0, count: n)
        var coord = [Int](repeating: 0, count: r)
        var cur = 0
        if r == 0 { return t }
        for i in 0..<n {
            idx[i] = cur
            var d = r - 1
            while d >= 0 {
                coord[d] += 1; cur += pst[d]
                if coord[d] < outShape[d] { break }
                cur -= pst[d] * coord[d]; coord[d] = 0; d -= 1
            }
        }
        pst.removeAll()
        return t.gather(idx, shape: outShape)
    }

    /// General strided slice: per axis `(start, step, count)`.
    static func slice(_ t: Tensor, _ spec: [(start: Int, step: Int, count: Int)]) throws(SegcError) -> Tensor {
        let r = t.shape.count
        let outShape = spec.map { $0.count }
        let st = try strides(t.shape)
        let n = try count(outShape, "Slice result")
        var idx: [Int] = []
        idx.reserveCapacity(n)
        if n == 0 { return t.gather([], shape: outShape) }
        var coord = [Int](repeating: 0, count: r)
        var base = 0
        for d in 0..<r { base += spec[d].start * st[d] }
        var cur = base
        for _ in 0..<n {
            idx.append(cur)
            var d = r - 1
            while d >= 0 {
                coord[d] += 1; cur += spec[d].step * st[d]
                if coord[d] < outShape[d] { break }
                cur -= spec[d].step * st[d] * coord[d]; coord[d] = 0; d -= 1
            }
        }
        return t.gather(idx, shape: outShape)
    }

    static func concat(_ parts: [Tensor], axis: Int) throws(SegcError) -> Tensor {
        guard let first = parts.first else { throw SegcError(.malformed, "Concat of nothing") }
        var outShape = first.shape
        outShape[axis] = 0
        for p in parts {
            if p.shape.count != first.shape.count { throw SegcError(.mismatch, "Concat rank mismatch") }
            for d in 0..<p.shape.count where d != axis && p.shape[d] != first.shape[d] {
                throw SegcError(.mismatch, "Concat shapes \(first.shape) and \(p.shape) differ outside axis \(axis)")
            }
            outShape[axis] += p.shape[axis]
        }
        // The only fold whose result is not sized by one input: parts may repeat (the same
        // name many times, or concats of concats), so check it before allocating.
        _ = try count(outShape, "Concat result")
        let outer = try product(first.shape[..<axis])
        let dtype = parts.contains { !$0.isIntegral } ? (parts.first { !$0.isIntegral }?.dtype ?? .f32) : first.dtype
        if dtype.isFloat {
            var v: [Double] = []
            let ds = parts.map { $0.doubles() }
            for o in 0..<outer {
                for (k, p) in parts.enumerated() {
                    let inner = try product(p.shape[axis...])
                    v.append(contentsOf: ds[k][(o * inner)..<((o + 1) * inner)])
                }
            }
            return Tensor.make(dtype, outShape, doubles: v)
        }
        var v: [Int64] = []
        let ds = parts.map { $0.int64s() }
        for o in 0..<outer {
            for (k, p) in parts.enumerated() {
                let inner = try product(p.shape[axis...])
                v.append(contentsOf: ds[k][(o * inner)..<((o + 1) * inner)])
            }
        }
        return Tensor.make(dtype, outShape, ints: v)
    }

    static func cast(_ t: Tensor, to onnxType: Int32) throws(SegcError) -> Tensor {
        guard let d = ONNXType.irType(onnxType) else {
            throw SegcError(.unsupported, "Cast to \(ONNXType.name(onnxType))")
        }
        if d == t.dtype { return t }
        if d.isFloat || d == .bool { return Tensor.make(d, t.shape, doubles: t.doubles()) }
        if t.isIntegral { return Tensor.make(d, t.shape, ints: t.int64s()) }
        return Tensor.make(d, t.shape, ints: t.doubles().map(toInt64))
    }

    /// ONNX Reshape target: `0` copies the input dim (unless `allowzero`), one `-1` is inferred.
    static func reshapeTarget(_ input: [Int], _ target: [Int], allowzero: Bool) throws(SegcError) -> [Int] {
        let total = try Checked.elementCount(input, "Reshape input")
        var out = target
        var infer: Int? = nil
        var known = 1
        for (i, d) in target.enumerated() {
            if d == -1 {
                if infer != nil { throw SegcError(.malformed, "Reshape target \(target) has two -1") }
                infer = i
            } else if d == 0 && !allowzero {
                guard i < input.count else { throw SegcError(.malformed, "Reshape target \(target): 0 beyond the input rank") }
                out[i] = input[i]
                known = try Checked.mul(known, input[i], "Reshape target")
            } else if d < 0 {
                throw SegcError(.malformed, "Reshape target \(target) has a negative dimension")
            } else {
                if d > Limits.maxDimension { throw SegcError(.limit, "Reshape dimension \(d) exceeds the limit") }
                known = try Checked.mul(known, d, "Reshape target")
            }
        }
        if let i = infer {
            if known == 0 || total % known != 0 {
                throw SegcError(.mismatch, "cannot reshape \(input) to \(target)")
            }
            out[i] = total / known
        } else if known != total {
            throw SegcError(.mismatch, "cannot reshape \(input) (\(total) elements) to \(target)")
        }
        return out
    }
}

extension Float {
    /// float32 arithmetic for folded float32 constants.
    func combine(_ q: Float, _ op: String) -> Float {
        switch op {
        case "Add": return self + q
        case "Sub": return self - q
        case "Mul": return self * q
        default: return self / q
        }
    }
}
