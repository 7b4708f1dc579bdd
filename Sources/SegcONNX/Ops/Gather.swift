import SegcCore
import SegcIR

/// ONNX `Gather`: folds on constants (shape arithmetic); on a runtime tensor with
/// constant indices, one crop (`pad` with negative amounts) per index, concatenated along
/// the axis and viewed in the output shape.
enum GatherImporter {
    static let entry = OpImporter("Gather", 7...25, run)

    static func runtimeGather(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let shape = ctx.type(x).shape
        let r = shape.count
        guard r >= 1, r <= 4 else { throw ctx.unsupported("Gather of a rank-\(r) runtime tensor") }
        let ind = try ctx.requireConst(1, "indices")
        let axis = try ctx.axis(try ctx.attrInt("axis", 0), rank: r)
        let n = shape[axis]
        var crops: [Int: ValueID] = [:]
        var pieces: [ValueID] = []
        for j in ind.int64s() {
            var k = Int(j)
            if k < 0 { k += n }
            if k < 0 || k >= n { throw ctx.malformed("index \(j) out of range for axis size \(n)") }
            if let c = crops[k] { pieces.append(c); continue }
            var pads = [Int](repeating: 0, count: 2 * r)
            pads[axis] = -k; pads[r + axis] = -(n - 1 - k)
            let c = try ctx.emit(.pad(Pad(pads: pads, value: 0)), [x], suffix: "/\(k)")[0]
            crops[k] = c
            pieces.append(c)
        }
        guard !pieces.isEmpty else { throw ctx.unsupported("Gather with no indices") }
        let joined = pieces.count == 1 ? pieces[0] : try ctx.emit(.concat(axis: axis), pieces)[0]
        let outShape = Array(shape[..<axis]) + ind.shape + Array(shape[(axis + 1)...])
        ctx.set(0, .rt(joined, outShape))
    }

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        if case .rt = try ctx.sym(0) { return try runtimeGather(&ctx) }
        guard let data = try ctx.constant(0) else { throw ctx.unsupported("Gather of a runtime tensor") }
        let ind = try ctx.requireConst(1, "indices")
        let r = data.shape.count
        guard r >= 1 else { throw ctx.malformed("Gather of a scalar") }
        let axis = try ctx.axis(try ctx.attrInt("axis", 0), rank: r)
        let n = data.shape[axis]
        let outer = try Fold.product(data.shape[..<axis]), inner = try Fold.product(data.shape[(axis + 1)...])
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
