import SegcCore

/// Element storage of a constant tensor. One case per element kind that
/// importers produce; quantized tensors store their integers in `i8`/`u8`.
package enum TensorStorage: Sendable, Hashable {
    case f32([Float])
    case f64([Double])
    case i64([Int64])
    case i32([Int32])
    case i8([Int8])
    case u8([UInt8])
    case bool([Bool])

    package var count: Int {
        switch self {
        case .f32(let a): return a.count
        case .f64(let a): return a.count
        case .i64(let a): return a.count
        case .i32(let a): return a.count
        case .i8(let a): return a.count
        case .u8(let a): return a.count
        case .bool(let a): return a.count
        }
    }
}

/// A constant tensor: weights, biases, BN statistics, indices, shape constants.
/// Contiguous, row-major (C order).
package struct Tensor: Sendable, Hashable {
    package var dtype: DType
    package var shape: [Int]
    package var storage: TensorStorage
    package var quant: QuantParams?

    package init(dtype: DType, shape: [Int], storage: TensorStorage, quant: QuantParams? = nil) {
        self.dtype = dtype; self.shape = shape; self.storage = storage; self.quant = quant
    }

    package init(_ values: [Float], shape: [Int]) {
        self.init(dtype: .f32, shape: shape, storage: .f32(values))
    }

    package var elementCount: Int { shape.reduce(1, *) }

    /// The values as float32: f32 as is, f64 rounded, integers converted,
    /// quantized values dequantized as `(q - zero_point) * scale`.
    package func floats() -> [Float] {
        if let q = quant { return dequantized(q) }
        switch storage {
        case .f32(let a): return a
        case .f64(let a): return a.map { Float($0) }
        case .i64(let a): return a.map { Float($0) }
        case .i32(let a): return a.map { Float($0) }
        case .i8(let a): return a.map { Float($0) }
        case .u8(let a): return a.map { Float($0) }
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        }
    }

    /// Integer values (shape constants, indices); floats are truncated, NaN becomes 0
    /// and out-of-range values saturate (file data must never trap).
    package func int64s() -> [Int64] {
        switch storage {
        case .f32(let a): return a.map { Self.saturatingInt64(Double($0)) }
        case .f64(let a): return a.map { Self.saturatingInt64($0) }
        case .i64(let a): return a
        case .i32(let a): return a.map { Int64($0) }
        case .i8(let a): return a.map { Int64($0) }
        case .u8(let a): return a.map { Int64($0) }
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        }
    }

    package static func saturatingInt64(_ d: Double) -> Int64 {
        if d.isNaN { return 0 }
        if d >= 9_223_372_036_854_775_807.0 { return .max }
        if d <= -9_223_372_036_854_775_808.0 { return .min }
        return Int64(d)
    }

    private func dequantized(_ q: QuantParams) -> [Float] {
        let ints: [Int64] = int64s()
        let n = ints.count
        var out = [Float](repeating: 0, count: n)
        if let axis = q.axis, axis < shape.count {
            let inner = shape[(axis + 1)...].reduce(1, *)
            let ch = shape[axis]
            for i in 0..<n {
                let c = (i / max(inner, 1)) % max(ch, 1)
                let s = c < q.scales.count ? q.scales[c] : 0
                let z = c < q.zeroPoints.count ? q.zeroPoints[c] : 0
                out[i] = Float(Double(ints[i] - z) * s)
            }
        } else {
            let s = q.scales.first ?? 0
            let z = q.zeroPoints.first ?? 0
            for i in 0..<n { out[i] = Float(Double(ints[i] - z) * s) }
        }
        return out
    }
}
