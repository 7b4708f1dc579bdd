import SegcCore
import SegcIR

/// ONNX `Softmax` → `softmax(axis)` (opset < 13: only where the 2-D coercion
/// is the same as a softmax along one axis).
enum SoftmaxImporter {
    static let entry = OpImporter("Softmax", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let xs = ctx.type(x).shape
        let axis = try ctx.axis(try ctx.attrInt("axis", ctx.opset >= 13 ? -1 : 1), rank: xs.count)
        if ctx.opset < 13 && xs[(axis + 1)...].contains(where: { $0 != 1 }) {
            throw ctx.unsupported("Softmax (opset \(ctx.opset)) over the flattened axes \(axis)…")
        }
        ctx.setRuntime(0, try ctx.emit(.softmax(axis: axis), [x])[0])
    }
}
