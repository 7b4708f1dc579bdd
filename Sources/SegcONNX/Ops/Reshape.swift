import SegcCore
import SegcIR

/// ONNX `Reshape` with a constant target: constants are reshaped, runtime
/// values become views (consumed by the unpool patterns, or identity).
enum ReshapeImporter {
    static let entry = OpImporter("Reshape", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let target = try ctx.constInts(1, "shape")
        let allowzero = try ctx.attrInt("allowzero", 0) != 0
        let shape: [Int]
        do { shape = try Fold.reshapeTarget(s.shape, target, allowzero: allowzero) } catch {
            if error.kind == .mismatch {
                throw SegcError(.mismatch, "\(error.message) (a shape constant of the export does not fit the input size?)")
            }
            throw error
        }
        try ShapeOps.reshape(&ctx, s, to: shape)
    }
}
