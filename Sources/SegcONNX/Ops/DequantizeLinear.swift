import SegcCore
import SegcIR

/// ONNX `DequantizeLinear`: folds on constants (quantized weights and biases
/// become float32 constants); on runtime activations see `QuantizeLinear`.
enum DequantizeLinearImporter {
    static let entry = OpImporter("DequantizeLinear", 11...20, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let scale = try ctx.requireConst(1, "x_scale")
        let zp = try ctx.constant(2)
        let s = try ctx.sym(0)
        guard case .const(let x) = s else {
            QDQ.warnPassThrough(&ctx)
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
