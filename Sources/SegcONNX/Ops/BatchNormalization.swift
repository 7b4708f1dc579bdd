import SegcCore
import SegcIR

/// ONNX `BatchNormalization` (inference mode) → `batchNorm`.
enum BatchNormalizationImporter {
    static let entry = OpImporter("BatchNormalization", 7...25, run)

    static func run(_ ctx: inout ImportContext) throws(SegcError) {
        if try ctx.attrInt("training_mode", 0) != 0 { return try training(&ctx) }
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

    /// training_mode=1 (opset 14+): normalised with the batch's own statistics; outputs 1
    /// and 2 are the updated running mean and variance, rows of the op's [2, C] statistics.
    static func training(_ ctx: inout ImportContext) throws(SegcError) {
        let eps = try ctx.attrFloat("epsilon", 1e-5)
        let momentum = try ctx.attrFloat("momentum", 0.9)
        let x = try ctx.runtime(0)
        var ins = [x]
        for i in 1...4 {
            _ = try ctx.requireConst(i, ["", "scale", "bias", "mean", "variance"][i])
            ins.append(try ctx.value(i))
        }
        let outs = try ctx.emit(.batchNormTraining(BatchNormTraining(epsilon: eps, momentum: momentum)), ins)
        ctx.setRuntime(0, outs[0])
        let c = ctx.type(x).shape[1]
        for k in 1...2 where ctx.outputUsed(k) {
            // Row k-1 of [2, C]: a crop, seen as [C].
            let row = try ctx.emit(.pad(Pad(pads: [k == 1 ? 0 : -1, 0, k == 1 ? -1 : 0, 0], value: 0)), [outs[1]], suffix: "/stat\(k)")[0]
            ctx.set(k, .rt(row, [c]))
        }
    }
}
