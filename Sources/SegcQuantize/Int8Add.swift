import SegcCore
import SegcPlan

extension Emitter {
    /// `add(a, b)` of two uint8 values (then ReLU) for a source model's grids, as a 1x1
    /// grouped qconv2d computing the identity on `a`, with `b` as its residual:
    /// `y = round((a − za)·(sa / sy) + (b − zb)·(sb / sy))`, clamped to uint8. The int8 ops have
    /// no add of their own, and fusing the add into the producing conv (as calibrated plans
    /// do) would skip the rounding a QDQ model's conv output gets before its Add: one step
    /// off on a sixth of ERFNet's first residual block, 98.7 % instead of 99.4 % argmax
    /// agreement with ONNX Runtime on city1.
    ///
    /// Groups of 4 channels (4x4 identity blocks), not depthwise: the int8 kernels pack
    /// input channels by 4 and output channels by tiles, so a depthwise conv wastes most of
    /// both. Measured per add (2 threads, AVX-512): 64 ch at 128x256 0.79 ms (depthwise
    /// 4.4 ms, dense 64x64 identity 1.2 ms), 128 ch at 64x128 0.54 ms, 16 ch at 256x512 1.1 ms.
    mutating func qadd(_ op: PlanOp, name: String, grid: [Int: QuantParams], relu: Bool) throws(SegcError) {
        let a = op.inputs[0], b = op.inputs[1], y = op.outputs[0]
        guard let pa = grid[a], let pb = grid[b], let py = grid[y] else {
            throw SegcError(.malformed, "\(name): an int8 add needs the grids of both inputs and the output")
        }
        let shape = plan.graph.values[y].shape, c = shape[1]
        let cinG = c % 4 == 0 ? 4 : c % 2 == 0 ? 2 : 1
        typealias C = PlanOpSchema.Conv
        var ints = [Int64](repeating: 0, count: C.count)
        for k in [C.kh, C.kw, C.strideH, C.strideW, C.dilationH, C.dilationW, C.hasBias, C.residual] { ints[k] = 1 }
        ints[C.groups] = Int64(c / cinG)
        ints[C.activation] = relu ? PlanOpSchema.Activation.relu : 0
        ints += [Int64(pa.zeroPoint), Int64(py.zeroPoint), Int64(pb.zeroPoint), 0]   // x, y, residual zero points; uint8 out
        // Output channel co of group co / cinG reads that group's input channel co % cinG.
        let identity = (0..<(c * cinG)).map { i in Int8(i / cinG % cinG == i % cinG ? 1 : 0) }
        let refs = [weights.add(identity, shape: [c, cinG, 1, 1]),
                    weights.add([Int32](repeating: 0, count: c), shape: [c]),
                    weights.add([Float](repeating: pa.scale / py.scale, count: c), shape: [c])]
        let inputs = [try u8(a, grid: grid), try u8(b, grid: grid)]
        let out = newValue(.u8, shape, name: name, grid: py)
        u8Of[y] = out
        emit(PlanOp(kind: .qconv2d, inputs: inputs, outputs: [out], weights: refs, ints: ints, floats: [pb.scale / py.scale]),
             name: name)
    }
}
