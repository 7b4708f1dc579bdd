import SegcCore
import SegcIR

/// ONNX `Squeeze` (axes attribute before opset 13, input after) → a reshape.
enum SqueezeImporter {
    static let entry = OpImporter("Squeeze", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let r = s.shape.count
        let raw: [Int]? = ctx.opset >= 13 ? (ctx.has(1) ? try ctx.constInts(1, "axes") : nil) : try ctx.attrInts("axes")
        var axes = Set<Int>()
        if let raw { for a in raw { axes.insert(try ctx.axis(a, rank: r)) } }
        else { for (d, n) in s.shape.enumerated() where n == 1 { axes.insert(d) } }
        for a in axes where s.shape[a] != 1 { throw ctx.malformed("cannot squeeze axis \(a) of size \(s.shape[a])") }
        try ShapeOps.reshape(&ctx, s, to: s.shape.enumerated().filter { !axes.contains($0.offset) }.map { $0.element })
    }
}
