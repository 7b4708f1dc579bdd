import SegcCore
import SegcIR

/// ONNX `Transpose`: folds on constants; on a runtime value only when it moves
/// size-1 axes (a reshape).
enum TransposeImporter {
    static let entry = OpImporter("Transpose", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let r = s.shape.count
        let perm = try ctx.attrInts("perm") ?? Array((0..<r).reversed())
        guard perm.count == r, Set(perm) == Set(0..<r) else { throw ctx.malformed("perm \(perm) for rank \(r)") }
        if case .const(let t) = s {
            ctx.set(0, .const(try Fold.transpose(t, perm)))
            return
        }
        let nonUnit = perm.filter { s.shape[$0] != 1 }
        guard nonUnit == nonUnit.sorted() else { throw ctx.unsupported("Transpose \(perm) of a runtime tensor") }
        try ShapeOps.reshape(&ctx, s, to: perm.map { s.shape[$0] })
    }
}
