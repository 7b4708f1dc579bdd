import SegcCore
import SegcIR

/// ONNX `PRelu` with a constant slope (one value or one per channel) → `prelu`.
enum PReluImporter {
    static let entry = OpImporter("PRelu", 7...25, run)
    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        let x = try ctx.runtime(0)
        let slope = try ctx.requireConst(1, "slope")
        let xs = ctx.type(x).shape
        let c = xs.count >= 2 ? xs[1] : 1
        let n = slope.storage.count
        // Per-channel slopes must vary along the channel axis only ([C], [C,1,1], [1,C,1,1]).
        let r = xs.count
        let padded = [Int](repeating: 1, count: max(r - slope.shape.count, 0)) + slope.shape
        let perChannel = padded.count == r && r >= 2 && padded.enumerated().allSatisfy { $0.offset == 1 || $0.element == 1 }
        if !(n == 1 || (n == c && perChannel)) {
            throw ctx.unsupported("PRelu slope of shape \(slope.shape) for input \(xs)")
        }
        let name = ctx.node.inputs[1] + "#flat"
        let sid: ValueID
        if let id = ctx.graphConstants[name] { sid = id } else {
            sid = ctx.graph.addConstant(ctx.node.inputs[1], Tensor(slope.floats(), shape: [n]))
            ctx.graphConstants[name] = sid
        }
        ctx.setRuntime(0, try ctx.emit(.prelu, [x, sid])[0])
    }
}
