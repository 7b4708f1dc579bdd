import SegcCore
import SegcIR

/// ONNX `QuantizeLinear`: folds on constants (round half to even, saturate to
/// the zero point's type). On a runtime activation it becomes one IR
/// `quantizeDequantize` node (simulated int8: the value is quantized and
/// dequantized again in float32, exactly as the Q→DQ pair computes it); the
/// `DequantizeLinear` that reads it passes the value through (see
/// `DequantizeLinearImporter`). Only per-tensor parameters are supported on
/// activations; per-axis ones are refused.
enum QuantizeLinearImporter {
    static let entry = OpImporter("QuantizeLinear", 10...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        // Blocked quantization (21+), an explicit output type (21+) and the precision of
        // the scale arithmetic (25+) are not implemented: refused rather than ignored.
        try ctx.refuseNonDefault([("block_size", 0), ("output_dtype", 0), ("precision", 0)])
        let scale = try ctx.requireConst(1, "y_scale")
        let zp = try ctx.constant(2)
        let s = try ctx.sym(0)
        guard case .const(let x) = s else {
            let q = try QDQ.activationParams(ctx, scale, zp, quantizedType: zp?.dtype ?? .u8)
            let x = try ctx.runtime(0)
            if ctx.type(x).dtype != .f32 {
                throw ctx.unsupported("QuantizeLinear of a \(ctx.type(x).dtype.rawValue) activation")
            }
            QDQ.noteSimulated(&ctx)
            ctx.setRuntime(0, try ctx.emit(.quantizeDequantize(q), [x])[0])
            if ctx.outputUsed(0) { ctx.quantized[ctx.node.outputs[0]] = q }
            return
        }
        let outType: DType = zp?.dtype ?? .u8
        let (lo, hi): (Double, Double) = outType == .i8 ? (-128, 127) : (0, 255)
        guard outType == .i8 || outType == .u8 else { throw ctx.unsupported("QuantizeLinear to \(outType.rawValue)") }
        let (sv, zv) = try QDQ.broadcast(ctx, x.shape, scale, zp)
        let xv = x.doubles()
        var q = [Int64](repeating: 0, count: xv.count)
        for i in 0..<xv.count {
            let r = (xv[i] / sv[i]).rounded(.toNearestOrEven) + Double(zv[i])
            q[i] = Int64(min(max(r.isNaN ? 0 : r, lo), hi))
        }
        ctx.set(0, .const(Tensor.make(outType, x.shape, ints: q)))
    }
}

package enum QDQ {
    /// Said at import; `segc convert` then lowers uint8 QDQ to real int8 and drops it
    /// (`QDQToInt8`), unless `--simulate-quant`.
    package static let simulatedWarning =
        "QDQ on activations is simulated in float32 (quantize-dequantize ops; convert lowers them to real int8 unless --simulate-quant)"

    static func noteSimulated(_ ctx: inout ImportContext) {
        if !ctx.warnings.contains(simulatedWarning) { ctx.warnings.append(simulatedWarning) }
    }

    /// Per-tensor parameters of a Q or DQ on an activation, checked. `quantizedType`
    /// is the int8/uint8 type (the zero point's, uint8 when it is absent).
    static func activationParams(_ ctx: ImportContext, _ scale: Tensor, _ zp: Tensor?,
                                 quantizedType: DType) throws(SegcError) -> QuantizeDequantize {
        if scale.storage.count != 1 || (zp?.storage.count ?? 1) != 1 {
            throw ctx.unsupported("\(ctx.node.opType) with per-axis parameters (\(scale.storage.count) scales) on an activation")
        }
        guard quantizedType == .u8 || quantizedType == .i8 else {
            throw ctx.unsupported("\(ctx.node.opType) of type \(quantizedType.rawValue) on an activation")
        }
        guard let sd = scale.doubles().first, let zv = (zp?.int64s() ?? [0]).first else {
            throw ctx.malformed("empty scale or zero point")
        }
        let sf = Float(sd)
        if !(sf.isFinite && sf > 0) { throw ctx.malformed("scale \(sd) must be finite and positive") }
        let q = QuantizeDequantize(scale: sf, zeroPoint: 0, signed: quantizedType == .i8)
        if zv < Int64(q.qmin) || zv > Int64(q.qmax) { throw ctx.malformed("zero point \(zv) outside \(q.qmin)...\(q.qmax)") }
        return QuantizeDequantize(scale: sf, zeroPoint: Int(zv), qmin: q.qmin, qmax: q.qmax)
    }

    /// Per-element scale and zero point for per-tensor or per-axis parameters.
    static func broadcast(_ ctx: ImportContext, _ shape: [Int], _ scale: Tensor, _ zp: Tensor?) throws(SegcError) -> ([Double], [Int64]) {
        let n = try Fold.product(shape[...])
        let s = scale.doubles(), z = zp?.int64s() ?? [0]
        if s.count == 1 {
            return ([Double](repeating: s[0], count: n), [Int64](repeating: z.first ?? 0, count: n))
        }
        let axis = try ctx.axis(try ctx.attrInt("axis", 1), rank: shape.count)
        guard s.count == shape[axis], z.count == s.count || z.count == 1 else {
            throw ctx.malformed("scale has \(s.count) values for axis \(axis) of \(shape)")
        }
        let inner = try Fold.product(shape[(axis + 1)...])
        var sv = [Double](repeating: 0, count: n), zv = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            let c = (i / max(inner, 1)) % shape[axis]
            sv[i] = s[c]; zv[i] = z.count == 1 ? z[0] : z[c]
        }
        return (sv, zv)
    }
}
