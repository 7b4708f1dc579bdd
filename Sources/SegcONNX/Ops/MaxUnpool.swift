import SegcCore
import SegcIR

/// ONNX `MaxUnpool` fed by a `MaxPool`'s `Indices` → `maxUnpool2d`.
enum MaxUnpoolImporter {
    static let entry = OpImporter("MaxUnpool", 9...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("MaxUnpool on a rank-\(xs.count) input") }
        guard case .indices(let idx, let plane, let shape) = try ctx.sym(1), shape == ctx.type(idx).shape,
              shape == xs else {
            throw ctx.unsupported("MaxUnpool whose indices do not come from a MaxPool")
        }
        let sp = try Spatial2D.read(ctx, kernel: nil, inputHW: nil)
        var oh = (xs[2] - 1) * sp.strides[0] + sp.kernel[0] - sp.pads[0] - sp.pads[2]
        var ow = (xs[3] - 1) * sp.strides[1] + sp.kernel[1] - sp.pads[1] - sp.pads[3]
        if ctx.has(2) {
            let os = try ctx.constInts(2, "output_shape")
            guard os.count == 4 else { throw ctx.malformed("output_shape must have 4 values") }
            // From the file: bounded before `oh * ow` below.
            for d in os[2...] where d < 1 || d > Limits.maxDimension { throw ctx.malformed("output_shape \(os)") }
            oh = os[2]; ow = os[3]
        }
        // ONNX indices are global; the IR's are per plane of the output.
        if let p = plane, p != oh * ow {
            throw ctx.unsupported("MaxUnpool to \(oh)x\(ow) with indices of a pool over \(p)-element planes")
        }
        ctx.setRuntime(0, try ctx.emit(.maxUnpool2d(MaxUnpool2d(outputH: oh, outputW: ow)), [x, idx])[0])
    }
}
