import SegcCore
import SegcIR

/// ONNX `ScatterND` as torch.export writes max_unpool2d: a flat zero tensor of
/// N*C*Ho*Wo elements, global pool indices `[M,1]`, the flattened values `[M]`.
/// The final Reshape to [N,C,Ho,Wo] emits the `maxUnpool2d`.
enum ScatterNDImporter {
    static let entry = OpImporter("ScatterND", 11...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let reduction = try ctx.attrString("reduction", "none")
        guard reduction == "none",
              case .const(let data) = try ctx.sym(0), data.shape.count == 1, data.isAllZero, !data.isIntegral,
              case .indices(let idx, let plane?, let ishape) = try ctx.sym(1),
              case .rt(let x, let xshape) = try ctx.sym(2) else {
            throw ctx.unsupported("ScatterND outside the max-unpool pattern")
        }
        let m = ctx.type(idx).elementCount
        let xs = ctx.type(x).shape
        guard ishape == [m, 1], xshape == [m], xs == ctx.type(idx).shape, xs.count == 4, plane > 0,
              data.shape[0] == xs[0] * xs[1] * plane else {
            throw ctx.unsupported("ScatterND outside the max-unpool pattern")
        }
        ctx.set(0, .unpooled(x: x, idx: idx, plane: plane, shape: data.shape))
    }
}
