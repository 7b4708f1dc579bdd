import SegcCore
import SegcPlan

extension FloatTwin {
    /// Refuses a plan whose META `value_grids` disagree with what its int8 ops record: the
    /// zero points of quantize / dequantize / qconv / qchannel_affine operands and the scales
    /// of quantize / dequantize. The twin reads the grids, the int8 plan runs the ops: on such
    /// a plan the twin would quietly compute another network than the one it stands in for.
    /// `Int8Lowering` writes both from one grid (MiDE-Net, ERFNet, ENet and BiSeNetV1 plans
    /// agree everywhere); only an edited or damaged plan disagrees.
    static func checkGrids(_ plan: PlanFile, _ gridOf: [Int: PlanValueGrid]) throws(SegcError) {
        let g = plan.graph
        for (i, op) in g.ops.enumerated() {
            let name = plan.sourceName(i) ?? "op \(i)"
            func agree(_ v: Int, zeroPoint: Int64, scale: Float? = nil) throws(SegcError) {
                // A value without a grid is refused where the twin needs it (FloatTwin.build).
                guard let p = gridOf[v] else { return }
                if Int64(p.zeroPoint) != zeroPoint || (scale.map { $0 != p.scale } ?? false) {
                    throw SegcError(.mismatch, "value_grids gives value \(v) zero point \(p.zeroPoint), scale \(p.scale); \(op.kind.name) records zero point \(zeroPoint)\(scale.map { ", scale \($0)" } ?? "")",
                                    at: .layer(name))
                }
            }
            switch op.kind {
            case .quantize:
                try agree(op.outputs[0], zeroPoint: op.ints[PlanOpSchema.Quantize.zeroPoint], scale: op.floats[PlanOpSchema.Quantize.scale])
            case .dequantize:
                try agree(op.inputs[0], zeroPoint: op.ints[PlanOpSchema.Quantize.zeroPoint], scale: op.floats[PlanOpSchema.Quantize.scale])
            case .qconv2d, .qconvTranspose2d:
                typealias Q = PlanOpSchema.QConv
                let n = op.kind == .qconv2d ? PlanOpSchema.Conv.count : PlanOpSchema.ConvTranspose.count
                try agree(op.inputs[0], zeroPoint: op.ints[n + Q.xZeroPoint])
                if op.ints[n + Q.outputF32] == 0 { try agree(op.outputs[0], zeroPoint: op.ints[n + Q.yZeroPoint]) }
                if op.inputs.count > 1 { try agree(op.inputs[1], zeroPoint: op.ints[n + Q.residualZeroPoint]) }
            case .qchannelAffine:
                try agree(op.inputs[0], zeroPoint: op.ints[PlanOpSchema.QAffine.xZeroPoint])
                try agree(op.outputs[0], zeroPoint: op.ints[PlanOpSchema.QAffine.yZeroPoint])
            default:
                break
            }
        }
    }
}
