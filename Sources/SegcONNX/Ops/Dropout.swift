import SegcCore
import SegcIR

/// ONNX `Dropout` (inference) → nothing; the mask output is unsupported.
enum DropoutImporter {
    static let entry = OpImporter("Dropout", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        if ctx.outputUsed(1) { throw ctx.unsupported("Dropout mask output") }
        if ctx.opset >= 12, ctx.has(2), let t = try ctx.constant(2), t.int64s().first ?? 0 != 0 {
            throw ctx.unsupported("Dropout training_mode=1")
        }
        try ShapeOps.alias(&ctx)
    }
}
