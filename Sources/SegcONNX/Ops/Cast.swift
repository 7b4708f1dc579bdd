import SegcCore
import SegcIR

/// ONNX `Cast`: folds on constants; a runtime value may only keep its type
/// (float32 → float32, indices → int64).
enum CastImporter {
    static let entry = OpImporter("Cast", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        // Opset 25's rounding mode only applies to float8 targets, which segc refuses anyway.
        if ctx.node.attrs["round_mode"] != nil, try ctx.attrString("round_mode", "up") != "up" {
            throw ctx.unsupported("Cast round_mode '\(try ctx.attrString("round_mode", "up"))'")
        }
        let to = Int32(truncatingIfNeeded: try ctx.attrInt("to", 0))
        let s = try ctx.sym(0)
        switch s {
        case .const(let t): ctx.set(0, .const(try Fold.cast(t, to: to)))
        case .rt(let id, _):
            guard ONNXType.fromIR(ctx.type(id).dtype) == to else {
                throw ctx.unsupported("Cast of a runtime tensor to \(ONNXType.name(to))")
            }
            ctx.set(0, s)
        case .indices, .unpooled:
            guard to == (s.isIndices ? ONNXType.int64 : ONNXType.float) else {
                throw ctx.unsupported("Cast of a runtime tensor to \(ONNXType.name(to))")
            }
            ctx.set(0, s)
        }
    }
}

extension Sym {
    var isIndices: Bool { if case .indices = self { return true } else { return false } }
}
