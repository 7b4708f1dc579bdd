import SegcCore
import SegcIR

/// ONNX `Concat` → `concat` (constants fold; constant parts of a runtime concat
/// become graph constants, e.g. ENet's zero channels).
enum ConcatImporter {
    static let entry = OpImporter("Concat", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        var syms: [Sym] = []
        for i in 0..<ctx.inputCount where ctx.has(i) { syms.append(try ctx.sym(i)) }
        guard let first = syms.first else { throw ctx.malformed("no inputs") }
        let axis = try ctx.axis(try ctx.attrInt("axis", 0), rank: first.shape.count)
        var consts: [Tensor] = []
        for s in syms { if case .const(let t) = s { consts.append(t) } }
        if consts.count == syms.count {
            // Empty shape tensors (e.g. [0]) vanish from the result.
            ctx.set(0, .const(try Fold.concat(consts, axis: axis)))
            return
        }
        var ins: [ValueID] = []
        for i in 0..<ctx.inputCount where ctx.has(i) { ins.append(try ctx.value(i)) }
        ctx.setRuntime(0, try ctx.emit(.concat(axis: axis), ins)[0])
    }
}
