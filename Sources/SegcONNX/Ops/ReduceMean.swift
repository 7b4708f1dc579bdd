import SegcCore
import SegcIR

/// ONNX `ReduceMean` over H and W of a 4-D tensor → `globalAveragePool`
/// (keepdims=0 gives a [N,C] view).
enum ReduceMeanImporter {
    static let entry = OpImporter("ReduceMean", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        var axes: [Int]?
        if ctx.opset >= 18 {
            if ctx.has(1) { axes = try ctx.constInts(1, "axes") }
        } else {
            axes = try ctx.attrInts("axes")
        }
        let keep = try ctx.attrInt("keepdims", 1) != 0
        guard xs.count == 4, let a = axes else { throw ctx.unsupported("ReduceMean other than over H and W of a 4-D tensor") }
        var norm: [Int] = []
        for v in a { norm.append(try ctx.axis(v, rank: 4)) }
        guard Set(norm) == [2, 3] else { throw ctx.unsupported("ReduceMean over axes \(a)") }
        let y = try ctx.emit(.globalAveragePool, [x])[0]
        if keep { ctx.setRuntime(0, y) } else { ctx.set(0, .rt(y, [xs[0], xs[1]])) }
    }
}
