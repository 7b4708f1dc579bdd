import SegcCore
import SegcIR

/// ONNX `BatchNormalization` (inference mode) → `batchNorm`.
enum BatchNormalizationImporter {
    static let entry = OpImporter("BatchNormalization", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        if try ctx.attrInt("training_mode", 0) != 0 { throw ctx.unsupported("BatchNormalization training_mode=1") }
        // Opsets 7–8: spatial=0 means per-element (C×H×W) statistics, not per channel.
        if ctx.opset < 9 { try ctx.refuseNonDefault([("spatial", 1)]) }
        for k in 1..<ctx.node.outputs.count where ctx.outputUsed(k) {
            throw ctx.unsupported("BatchNormalization running-statistics outputs")
        }
        let eps = try ctx.attrFloat("epsilon", 1e-5)
        let x = try ctx.runtime(0)
        var ins = [x]
        for i in 1...4 {
            _ = try ctx.requireConst(i, ["", "scale", "bias", "mean", "variance"][i])
            ins.append(try ctx.value(i))
        }
        ctx.setRuntime(0, try ctx.emit(.batchNorm(BatchNorm(epsilon: eps)), ins)[0])
    }
}
