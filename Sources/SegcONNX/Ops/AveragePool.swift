import SegcCore
import SegcIR

/// ONNX `AveragePool` → `avgPool2d`.
enum AveragePoolImporter {
    static let entry = OpImporter("AveragePool", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        guard xs.count == 4 else { throw ctx.unsupported("AveragePool on a rank-\(xs.count) input") }
        let sp = try Spatial2D.read(ctx, kernel: nil, inputHW: [xs[2], xs[3]])
        var p = Pool2d(kernel: 1, stride: 1, ceilMode: try ctx.attrInt("ceil_mode", 0) != 0)
        p.kh = sp.kernel[0]; p.kw = sp.kernel[1]; p.strideH = sp.strides[0]; p.strideW = sp.strides[1]
        p.padTop = sp.pads[0]; p.padLeft = sp.pads[1]; p.padBottom = sp.pads[2]; p.padRight = sp.pads[3]
        p.dilationH = sp.dilations[0]; p.dilationW = sp.dilations[1]
        p.countIncludePad = try ctx.attrInt("count_include_pad", 0) != 0
        ctx.setRuntime(0, try ctx.emit(.avgPool2d(p), [x])[0])
    }
}
