import SegcCore
import SegcIR

/// ONNX `Gather` on constants (shape arithmetic).
enum GatherImporter {
    static let entry = OpImporter("Gather", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        guard let data = try ctx.constant(0) else { throw ctx.unsupported("Gather of a runtime tensor") }
        let ind = try ctx.requireConst(1, "indices")
        let r = data.shape.count
        guard r >= 1 else { throw ctx.malformed("Gather of a scalar") }
        let axis = try ctx.axis(try ctx.attrInt("axis", 0), rank: r)
        let n = data.shape[axis]
        let outer = data.shape[..<axis].reduce(1, *), inner = data.shape[(axis + 1)...].reduce(1, *)
        var idx: [Int] = []
        let iv = ind.int64s()
        let outShape = Array(data.shape[..<axis]) + ind.shape + Array(data.shape[(axis + 1)...])
        _ = try Fold.count(outShape, "Gather result")
        for o in 0..<outer {
            for j in iv {
                var k = Int(j)
                if k < 0 { k += n }
                if k < 0 || k >= n { throw ctx.malformed("index \(j) out of range for axis size \(n)") }
                for i in 0..<inner { idx.append((o * n + k) * inner + i) }
            }
        }
        ctx.set(0, .const(data.gather(idx, shape: outShape)))
    }
}
