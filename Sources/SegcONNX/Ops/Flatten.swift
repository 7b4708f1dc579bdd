import SegcCore
import SegcIR

/// ONNX `Flatten` → a reshape to 2-D.
enum FlattenImporter {
    static let entry = OpImporter("Flatten", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let r = s.shape.count
        var axis = try ctx.attrInt("axis", 1)
        if axis < 0 { axis += r }
        guard axis >= 0 && axis <= r else { throw ctx.malformed("axis out of range") }
        try ShapeOps.reshape(&ctx, s, to: [try Fold.product(s.shape[..<axis]), try Fold.product(s.shape[axis...])])
    }
}
