import SegcCore
import SegcIR

/// ONNX `QuantizeLinear`: folds on constants (round half to even, saturate to
/// the zero point's type). On runtime activations it is, for now, passed through
/// in float32 together with the matching `DequantizeLinear` (the int8 kernels
/// come with their own issue); a warning says so.
enum QuantizeLinearImporter {
    static let entry = OpImporter("QuantizeLinear", 11...20, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let scale = try ctx.requireConst(1, "y_scale")
        let zp = try ctx.constant(2)
        let s = try ctx.sym(0)
        guard case .const(let x) = s else {
            QDQ.warnPassThrough(&ctx)
            // The quantized range's lower bound still applies: with zero point
            // at qmin (uint8, zp 0) the exporter relies on it as the ReLU.
            let zpv = zp?.int64s().first ?? 0
            let qmin: Int64 = (zp?.dtype ?? .u8) == .i8 ? -128 : 0
            if scale.storage.count == 1, zp?.storage.count ?? 1 == 1, zpv == qmin, case .rt = s {
                let x = try ctx.runtime(0)
                ctx.setRuntime(0, try ctx.emit(.relu, [x])[0])
            } else {
                ctx.set(0, s)
            }
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

enum QDQ {
    static func warnPassThrough(_ ctx: inout ImportContext) {
        let w = "QDQ on activations kept in float32 (quantized execution not implemented yet)"
        if !ctx.warnings.contains(w) { ctx.warnings.append(w) }
    }

    /// Per-element scale and zero point for per-tensor or per-axis parameters.
    static func broadcast(_ ctx: ImportContext, _ shape: [Int], _ scale: Tensor, _ zp: Tensor?) throws(SegcError) -> ([Double], [Int64]) {
        let n = shape.reduce(1, *)
        let s = scale.doubles(), z = zp?.int64s() ?? [0]
        if s.count == 1 {
            return ([Double](repeating: s[0], count: n), [Int64](repeating: z.first ?? 0, count: n))
        }
        let axis = try ctx.axis(try ctx.attrInt("axis", 1), rank: shape.count)
        guard s.count == shape[axis], z.count == s.count || z.count == 1 else {
            throw ctx.malformed("scale has \(s.count) values for axis \(axis) of \(shape)")
        }
        let inner = shape[(axis + 1)...].reduce(1, *)
        var sv = [Double](repeating: 0, count: n), zv = [Int64](repeating: 0, count: n)
        for i in 0..<n {
            let c = (i / max(inner, 1)) % shape[axis]
            sv[i] = s[c]; zv[i] = z.count == 1 ? z[0] : z[c]
        }
        return (sv, zv)
    }
}
