import SegcCore
import SegcIR

/// ONNX `ScatterElements` as the TorchScript export writes max_unpool2d
/// (flatten + scatter): zeros [N,C,P], per-plane indices and values viewed as
/// [N,C,h*w], axis 2. The final Reshape to [N,C,Ho,Wo] emits the `maxUnpool2d`.
enum ScatterElementsImporter {
    static let entry = OpImporter("ScatterElements", 11...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let reduction = try ctx.attrString("reduction", "none")
        let axis = try ctx.attrInt("axis", 0)
        guard reduction == "none",
              case .const(let data) = try ctx.sym(0), data.shape.count == 3, data.isAllZero, !data.isIntegral,
              axis == 2 || axis == -1,
              case .indices(let idx, nil, let ishape) = try ctx.sym(1),
              case .rt(let x, let xshape) = try ctx.sym(2) else {
            throw ctx.unsupported("ScatterElements outside the max-unpool pattern")
        }
        let xs = ctx.type(x).shape
        guard xs.count == 4, xs == ctx.type(idx).shape, ishape == [xs[0], xs[1], xs[2] * xs[3]], xshape == ishape,
              data.shape[0] == xs[0], data.shape[1] == xs[1] else {
            throw ctx.unsupported("ScatterElements outside the max-unpool pattern")
        }
        ctx.set(0, .unpooled(x: x, idx: idx, plane: data.shape[2], shape: data.shape))
    }
}
