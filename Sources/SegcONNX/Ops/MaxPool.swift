import SegcCore
import SegcIR

/// ONNX `MaxPool` (ceil_mode, pads, dilations, the `Indices` output) → `maxPool2d`.
/// `Indices` become index bookkeeping for the unpool patterns; a 1x1/stride-1
/// pool (torch.export's trick to obtain plane offsets) folds to the identity and
/// a constant index tensor.
enum MaxPoolImporter {
    static let entry = OpImporter("MaxPool", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("MaxPool on a rank-\(xs.count) input") }
        let sp = try Spatial2D.read(ctx, kernel: nil, inputHW: [xs[2], xs[3]])
        let ceil = try ctx.attrInt("ceil_mode", 0) != 0
        let wantsIndices = ctx.outputUsed(1)
        let storageOrder = try ctx.attrInt("storage_order", 0)
        if wantsIndices && storageOrder != 0 {
            throw ctx.unsupported("MaxPool storage_order=1")
        }
        if sp.kernel == [1, 1] && sp.strides == [1, 1] && sp.pads == [0, 0, 0, 0] {
            ctx.setRuntime(0, x)
            if wantsIndices { ctx.set(1, .const(try Fold.iota(xs))) }
            return
        }
        var p = Pool2d(kernel: 1, stride: 1, ceilMode: ceil, returnsIndices: wantsIndices)
        p.kh = sp.kernel[0]; p.kw = sp.kernel[1]; p.strideH = sp.strides[0]; p.strideW = sp.strides[1]
        p.padTop = sp.pads[0]; p.padLeft = sp.pads[1]; p.padBottom = sp.pads[2]; p.padRight = sp.pads[3]
        p.dilationH = sp.dilations[0]; p.dilationW = sp.dilations[1]
        let outs = try ctx.emit(.maxPool2d(p), [x])
        ctx.setRuntime(0, outs[0])
        if wantsIndices {
            ctx.set(1, .indices(outs[1], plane: xs[2] * xs[3], shape: ctx.type(outs[1]).shape))
        }
    }
}
