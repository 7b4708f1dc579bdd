import SegcCore
import SegcIR

/// ONNX `Unsqueeze` (axes attribute before opset 13, input after) → a reshape.
enum UnsqueezeImporter {
    static let entry = OpImporter("Unsqueeze", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let raw: [Int] = ctx.opset >= 13 ? try ctx.constInts(1, "axes") : (try ctx.attrInts("axes") ?? [])
        let r = s.shape.count + raw.count
        if r > Limits.maxTensorRank { throw SegcError(.limit, "Unsqueeze result rank \(r) exceeds \(Limits.maxTensorRank)") }
        var axes = Set<Int>()
        for a in raw { axes.insert(try ctx.axis(a, rank: r)) }
        if axes.count != raw.count { throw ctx.malformed("repeated axes") }
        var out: [Int] = []
        var k = 0
        for d in 0..<r {
            if axes.contains(d) { out.append(1) } else { out.append(s.shape[k]); k += 1 }
        }
        try ShapeOps.reshape(&ctx, s, to: out)
    }
}
