import SegcCore
import SegcPlan

extension Emitter {
    /// `add(a, b)` of two uint8 values (then ReLU) for a source model's grids, as a 1x1
    /// depthwise qconv2d with weight 1 and `b` as its residual:
    /// `y = round((a − za)·(sa / sy) + (b − zb)·(sb / sy))`, clamped to uint8. The int8 ops have
    /// no add of their own, and fusing the add into the producing conv (as calibrated plans
    /// do) would skip the rounding a QDQ model's conv output gets before its Add: one step
    /// off on a sixth of ERFNet's first residual block, 96–98.7 % instead of 99.4 % argmax
    /// agreement with ONNX Runtime on city1.
    mutating func qadd(_ op: PlanOp, name: String, grid: [Int: QuantParams], relu: Bool) throws(SegcError) {
        let a = op.inputs[0], b = op.inputs[1], y = op.outputs[0]
        guard let pa = grid[a], let pb = grid[b], let py = grid[y] else {
            throw SegcError(.malformed, "\(name): an int8 add needs the grids of both inputs and the output")
        }
        let shape = plan.graph.values[y].shape, c = shape[1]
        typealias C = PlanOpSchema.Conv
        var ints = [Int64](repeating: 0, count: C.count)
        for k in [C.kh, C.kw, C.strideH, C.strideW, C.dilationH, C.dilationW, C.hasBias, C.residual] { ints[k] = 1 }
        ints[C.groups] = Int64(c)
        ints[C.activation] = relu ? PlanOpSchema.Activation.relu : 0
        ints += [Int64(pa.zeroPoint), Int64(py.zeroPoint), Int64(pb.zeroPoint), 0]   // x, y, residual zero points; uint8 out
        let refs = [weights.add([Int8](repeating: 1, count: c), shape: [c, 1, 1, 1]),
                    weights.add([Int32](repeating: 0, count: c), shape: [c]),
                    weights.add([Float](repeating: pa.scale / py.scale, count: c), shape: [c])]
        let inputs = [try u8(a, grid: grid), try u8(b, grid: grid)]
        let out = newValue(.u8, shape, name: name)
        u8Of[y] = out
        emit(PlanOp(kind: .qconv2d, inputs: inputs, outputs: [out], weights: refs, ints: ints, floats: [pb.scale / py.scale]),
             name: name)
    }
}
