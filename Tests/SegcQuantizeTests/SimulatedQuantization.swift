import SegcPlan

/// The float32 simulation of an int8 plan, for checking the int8 kernels and the pass
/// against the reference interpreter: every uint8 value q becomes the float q − zero
/// point ("grid units"), and each int8 op becomes the float ops of its definition —
///   quantize:   QDQ(x; scale, zp, 0, 255) / scale
///   dequantize: u · scale
///   qconv:      conv(u, float(w8), float(b32)) · mult [+ float(r) · r_mul], activation,
///               then QDQ(·; 1, zp, 0, 255) for a uint8 output
///   qchannel_affine: u · mul + add, relu, QDQ(·; 1, zp, 0, 255)
/// and max pool / concat run unchanged on grid units.
enum SimulatedQuantization {
    static func plan(_ q: PlanFile) -> PlanFile {
        var b = Builder(source: q)
        let g = q.graph
        var map = [Int: Int]()    // int8-plan value → simulated value
        map[g.input] = b.value(g.values[g.input].shape)
        for op in g.ops {
            let x = op.inputs.map { map[$0]! }
            let shape = g.values[op.outputs[0]].shape
            var y: Int
            switch op.kind {
            case .quantize:
                let s = op.floats[0], zp = op.ints[0]
                let t = b.op(.quantizeDequantize, [x[0]], shape, ints: [zp, 0, 255], floats: [s])
                y = b.op(.div, [t], shape, weights: [b.floats([s], [1])])
            case .dequantize:
                y = b.op(.mul, [x[0]], shape, weights: [b.floats([op.floats[0]], [1])])
            case .qconv2d, .qconvTranspose2d:
                let t = op.kind == .qconvTranspose2d
                let n = t ? PlanOpSchema.ConvTranspose.count : PlanOpSchema.Conv.count
                let actAt = t ? PlanOpSchema.ConvTranspose.activation : PlanOpSchema.Conv.activation
                let resAt = t ? PlanOpSchema.ConvTranspose.residual : PlanOpSchema.Conv.residual
                var ints = Array(op.ints[..<n])
                let act = ints[actAt], residual = ints[resAt] == 1
                ints[actAt] = 0; ints[resAt] = 0
                let w = b.i8AsFloat(op.weights[0]), bias = b.i32AsFloat(op.weights[1])
                let cout = shape[1]
                let acc = b.op(t ? .convTranspose2d : .conv2d, [x[0]], shape, weights: [w, bias], ints: ints)
                var v = b.op(.mul, [acc], shape, weights: [b.copyFloats(op.weights[2], as: [1, cout, 1, 1])])
                if residual {
                    let r = b.op(.mul, [x[1]], shape, weights: [b.floats([op.floats[0]], [1])])
                    v = b.op(.add, [v, r], shape)
                }
                if act == 1 { v = b.op(.relu, [v], shape) }
                if act == 2 { v = b.op(.prelu, [v], shape, weights: [b.copyFloats(op.weights[3], as: op.weights[3].shape)]) }
                let yzp = op.ints[n + PlanOpSchema.QConv.yZeroPoint], f32 = op.ints[n + PlanOpSchema.QConv.outputF32] == 1
                y = f32 ? v : b.op(.quantizeDequantize, [v], shape, ints: [yzp, 0, 255], floats: [1])
            case .qchannelAffine:
                var v = b.op(.channelAffine, [x[0]], shape, weights: [b.copyFloats(op.weights[0], as: op.weights[0].shape),
                                                                      b.copyFloats(op.weights[1], as: op.weights[1].shape)])
                if op.ints[2] == 1 { v = b.op(.relu, [v], shape) }
                y = b.op(.quantizeDequantize, [v], shape, ints: [op.ints[1], 0, 255], floats: [1])
            default:
                var f = op
                f.inputs = x
                f.weights = op.weights.map { $0.dtype == .f32 ? b.copyFloats($0, as: $0.shape) : $0 }
                f.outputs = op.outputs.map { v in b.value(g.values[v].shape, g.values[v].dtype == .i64 ? .i64 : .f32) }
                b.ops.append(f)
                for (k, v) in op.outputs.enumerated() where k > 0 { map[v] = f.outputs[k] }
                y = f.outputs[0]
            }
            map[op.outputs[0]] = y
        }
        return b.finish(input: map[g.input]!, output: map[g.output]!)
    }

    struct Builder {
        let source: PlanFile
        var values: [PlanValue] = []
        var ops: [PlanOp] = []
        var bytes: [UInt8] = []

        mutating func value(_ shape: [Int], _ dtype: PlanDType = .f32) -> Int {
            values.append(PlanValue(dtype: dtype, shape: shape, arenaOffset: 0))
            return values.count - 1
        }
        mutating func op(_ kind: PlanOpKind, _ inputs: [Int], _ shape: [Int], weights: [WeightRef] = [],
                         ints: [Int64] = [], floats: [Float] = []) -> Int {
            let y = value(shape)
            ops.append(PlanOp(kind: kind, inputs: inputs, outputs: [y], weights: weights, ints: ints, floats: floats))
            return y
        }
        mutating func floats(_ v: [Float], _ shape: [Int]) -> WeightRef {
            while bytes.count % 64 != 0 { bytes.append(0) }
            let r = WeightRef(offset: bytes.count, dtype: .f32, shape: shape)
            for f in v { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            return r
        }
        func elements<T>(_ r: WeightRef, _ t: T.Type) -> [T] {
            source.weights.withBytes { raw in (0..<r.elementCount).map { raw.load(fromByteOffset: r.offset + $0 * MemoryLayout<T>.size, as: T.self) } }
        }
        mutating func i8AsFloat(_ r: WeightRef) -> WeightRef { floats(elements(r, Int8.self).map { Float($0) }, r.shape) }
        mutating func i32AsFloat(_ r: WeightRef) -> WeightRef { floats(elements(r, Int32.self).map { Float($0) }, r.shape) }
        mutating func copyFloats(_ r: WeightRef, as shape: [Int]) -> WeightRef { floats(elements(r, Float.self), shape) }

        func finish(input: Int, output: Int) -> PlanFile {
            // Every value its own arena slot: simple and never aliased.
            var vals = values, off = 0
            for i in vals.indices { vals[i].arenaOffset = off; off += (vals[i].byteCount + 63) & ~63 }
            var meta = source.metadata
            meta.precision = "mixed"
            return PlanFile(metadata: meta, graph: PlanGraph(values: vals, ops: ops, input: input, output: output, arenaBytes: off),
                            weights: PlanWeights(owned: bytes), sourceMap: [])
        }
    }
}
