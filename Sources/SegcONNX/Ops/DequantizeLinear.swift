import SegcCore
import SegcIR

/// ONNX `DequantizeLinear`: folds on constants (quantized weights and biases
/// become float32 constants). On a runtime activation its input must be the
/// output of a `QuantizeLinear` on an activation, with the same scale and zero
/// point: that `QuantizeLinear` already emitted the `quantizeDequantize` node
/// computing the pair, so the value passes through.
enum DequantizeLinearImporter {
    static let entry = OpImporter("DequantizeLinear", 10...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        // Blocked quantization (21+) and a non-float32 output type (23+) are not implemented.
        try ctx.refuseNonDefault([("block_size", 0)])
        if let t = try? ctx.attrInt("output_dtype", 0), t != 0, t != Int(ONNXType.float) {
            throw ctx.unsupported("DequantizeLinear output_dtype=\(t)")
        }
        let scale = try ctx.requireConst(1, "x_scale")
        let zp = try ctx.constant(2)
        let s = try ctx.sym(0)
        guard case .const(let x) = s else {
            guard let q = ctx.quantized[ctx.node.inputs[0]] else {
                throw ctx.unsupported("DequantizeLinear of a runtime tensor that is not the output of a QuantizeLinear")
            }
            let signed = q.qmin < 0
            let p = try QDQ.activationParams(ctx, scale, zp, quantizedType: zp?.dtype ?? (signed ? .i8 : .u8))
            if p != q {
                throw ctx.unsupported("DequantizeLinear with scale \(p.scale), zero point \(p.zeroPoint) "
                                      + "after a QuantizeLinear with scale \(q.scale), zero point \(q.zeroPoint)")
            }
            ctx.set(0, s)
            return
        }
        let (sv, zv) = try QDQ.broadcast(ctx, x.shape, scale, zp)
        let q = x.int64s()
        var out = [Float](repeating: 0, count: q.count)
        for i in 0..<q.count { out[i] = Float(Double(q[i] &- zv[i]) * sv[i]) }
        ctx.set(0, .const(Tensor(out, shape: x.shape)))
    }
}
