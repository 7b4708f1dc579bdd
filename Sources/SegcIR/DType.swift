/// Element types of IR values and tensors (architecture.md §3).
/// f16/bf16 weights are widened to f32 at import; f64 is kept only for
/// quantization scales.
package enum DType: String, Sendable, Hashable, CaseIterable {
    case f32, f64, i64, i32, i16, i8, u8, bool
    /// Quantized int8 / uint8 (scale and zero point in `QuantParams`).
    case qi8, qu8

    package var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .i16: return 2
        case .i8, .u8, .bool, .qi8, .qu8: return 1
        }
    }

    package var isFloat: Bool { self == .f32 || self == .f64 }
    package var isInteger: Bool { [.i64, .i32, .i16, .i8, .u8].contains(self) }
}

/// Per-tensor (`axis == nil`, one scale) or per-channel quantization parameters.
package struct QuantParams: Sendable, Hashable {
    package var scales: [Double]
    package var zeroPoints: [Int64]
    package var axis: Int?

    package init(scales: [Double], zeroPoints: [Int64], axis: Int?) {
        self.scales = scales; self.zeroPoints = zeroPoints; self.axis = axis
    }
}
