import SegcCore
import SegcIR

/// ONNX `Expand`: folds on constants; on a runtime value only when it is a no-op.
enum ExpandImporter {
    static let entry = OpImporter("Expand", 8...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let s = try ctx.sym(0)
        let target = try ctx.constInts(1, "shape")
        let out = try Fold.broadcastShape(s.shape, target)
        if case .const(let t) = s {
            ctx.set(0, .const(t.gather(try Fold.broadcastIndex(t.shape, to: out), shape: out)))
            return
        }
        // Checked: the target shape comes from the file and its product may overflow Int.
        guard try Checked.elementCount(out, "Expand result") == (try Checked.elementCount(s.shape, "Expand input")) else {
            throw ctx.unsupported("Expand of a runtime tensor")
        }
        try ShapeOps.reshape(&ctx, s, to: out)
    }
}
