import SegcCore
import SegcIR

/// ONNX `ConvTranspose` (2-D; output_padding, pads, groups, or output_shape) → `convTranspose2d`.
enum ConvTransposeImporter {
    static let entry = OpImporter("ConvTranspose", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.value(0)
        let w = try ctx.requireConst(1, "weight")
        guard w.shape.count == 4 else { throw ctx.unsupported("ConvTranspose with a \(w.shape.count - 2)-D kernel") }
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("ConvTranspose on a rank-\(xs.count) input") }
        let autoPad = try ctx.attrString("auto_pad", "NOTSET")
        if !["NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) {
            throw ctx.unsupported("ConvTranspose auto_pad '\(autoPad)'")
        }
        let same = autoPad.hasPrefix("SAME")
        var sp = try Spatial2D.read(ctx, kernel: [w.shape[2], w.shape[3]], inputHW: nil, transposed: true)
        var outPad = try ctx.spatial(try ctx.attrInts("output_padding") ?? [0, 0], "output_padding", min: 0)
        if outPad.count != 2 { throw ctx.malformed("output_padding must have 2 values") }
        let group = try ctx.attrInt("group", 1)
        if group < 1 || group > Limits.maxDimension { throw ctx.malformed("group \(group)") }
        // An explicit output_shape, or auto_pad SAME (output = input × stride), fixes the
        // padding (ONNX ConvTranspose):
        //   total = stride*(in-1) + output_padding + ((kernel-1)*dilation+1) - out,
        // split with the smaller half first for SAME_UPPER, the larger half first otherwise.
        var target: [Int]?
        if let os = try ctx.attrInts("output_shape") {
            target = Array(os.suffix(2))
            if target?.count != 2 { throw ctx.malformed("output_shape must give H and W") }
        } else if same {
            target = [xs[2] * sp.strides[0], xs[3] * sp.strides[1]]
        }
        if let target {
            for d in 0..<2 {
                let full = sp.strides[d] * (xs[2 + d] - 1) + outPad[d] + (sp.kernel[d] - 1) * sp.dilations[d] + 1
                let total = full - _checkDim(target[d])
                if total < 0 {
                    outPad[d] += -total
                    sp.pads[d] = 0; sp.pads[d + 2] = 0
                } else {
                    let small = total / 2, big = total - small
                    (sp.pads[d], sp.pads[d + 2]) = autoPad == "SAME_UPPER" ? (small, big) : (big, small)
                }
            }
        }
        var c = ConvTranspose2d(kh: sp.kernel[0], kw: sp.kernel[1], stride: (sp.strides[0], sp.strides[1]),
                                padding: (0, 0), outputPadding: (outPad[0], outPad[1]),
                                dilation: (sp.dilations[0], sp.dilations[1]), groups: group, hasBias: ctx.has(2))
        c.padTop = sp.pads[0]; c.padLeft = sp.pads[1]; c.padBottom = sp.pads[2]; c.padRight = sp.pads[3]
        var ins = [x, try ctx.value(1)]
        if ctx.has(2) {
            _ = try ctx.requireConst(2, "bias")
            ins.append(try ctx.value(2))
        }
        ctx.setRuntime(0, try ctx.emit(.convTranspose2d(c), ins)[0])
    }

    private static func _checkDim(_ v: Int) -> Int { min(max(v, 0), Limits.maxDimension) }
}
