import SegcCore
import SegcIR

/// ONNX `Conv` (2-D) → `conv2d` (epilogue `.none`).
enum ConvImporter {
    static let entry = OpImporter("Conv", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.value(0)
        let w = try ctx.requireConst(1, "weight")
        guard w.shape.count == 4 else { throw ctx.unsupported("Conv with a \(w.shape.count - 2)-D kernel") }
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("Conv on a rank-\(xs.count) input") }
        let sp = try Spatial2D.read(ctx, kernel: [w.shape[2], w.shape[3]], inputHW: [xs[2], xs[3]])
        let group = try ctx.attrInt("group", 1)
        if group < 1 || group > Limits.maxDimension { throw ctx.malformed("group \(group)") }
        var c = Conv2d(kh: sp.kernel[0], kw: sp.kernel[1], stride: (sp.strides[0], sp.strides[1]),
                       dilation: (sp.dilations[0], sp.dilations[1]), groups: group, hasBias: ctx.has(2))
        c.padTop = sp.pads[0]; c.padLeft = sp.pads[1]; c.padBottom = sp.pads[2]; c.padRight = sp.pads[3]
        var ins = [x, try ctx.value(1)]
        if ctx.has(2) {
            let b = try ctx.requireConst(2, "bias")
            if b.shape.count != 1 { throw ctx.malformed("bias must be rank 1") }
            ins.append(try ctx.value(2))
        }
        ctx.setRuntime(0, try ctx.emit(.conv2d(c), ins)[0])
    }
}
