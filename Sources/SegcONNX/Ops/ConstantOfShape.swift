import SegcCore
import SegcIR

/// ONNX `ConstantOfShape` with a constant shape → a constant tensor.
enum ConstantOfShapeImporter {
    static let entry = OpImporter("ConstantOfShape", 9...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let shape = try ctx.constInts(0, "shape")
        for d in shape where d < 0 { throw ctx.malformed("negative dimension \(d)") }
        let n = try Fold.count(shape, "ConstantOfShape result")
        var fill = Tensor([0], shape: [1])
        if case .t(let t)? = ctx.node.attrs["value"] {
            guard t.storage.count == 1 else { throw ctx.malformed("value must hold one element") }
            fill = t
        }
        let out: Tensor = fill.isIntegral
            ? Tensor.make(fill.dtype, shape, ints: [Int64](repeating: fill.int64s()[0], count: n))
            : Tensor.make(fill.dtype, shape, doubles: [Double](repeating: fill.doubles()[0], count: n))
        ctx.set(0, .const(out))
    }
}
