import SegcCore
import SegcPlan

/// The float twin of an int8 plan: the same graph in float32, with the int8 weights
/// dequantized and every uint8 tensor replaced by the real numbers its codes stand for —
/// what the int8 plan computes without rounding its activations or clipping them at the top
/// of their grids. It is the fallback an int8 plan carries for the frames its range guard
/// flags (`run --fallback-float`): those frames drive a tensor past its calibrated range, and
/// the twin keeps what the int8 grid would clip, at float speed.
///
/// Per op (grids from META `value_grids`, real value = (q − zero point) · scale):
/// - `quantize` / `dequantize`: the value itself; a grid with zero point 0 clamps at 0 in
///   int8, which the pass uses as a ReLU, so there the twin applies one.
/// - `qconv2d` / `qconv_transpose2d`: acc · mult is in units of the output grid s_y (1 for a
///   float output), so the float weights are w · mult · s_y / s_x and the bias bias · mult · s_y;
///   the residual's multiplier is s_r / s_y by construction, so it adds as it is; the
///   activation stays, and an output grid with zero point 0 clamps at 0: no activation becomes
///   a ReLU, a PReLU keeps only its negative slopes (v·a > 0 for v < 0 when a < 0).
/// - `qchannel_affine`: scale mul · s_y / s_x, bias add · s_y, then the ReLU as above.
/// - max pool and concat on uint8: the same op on float32.
/// Float32 ops are copied. Anything else on uint8 has no twin (`unsupported`), nor has a plan
/// whose grids disagree with its ops (`FloatTwinGrids.swift`).
package enum FloatTwin {
    package static func build(_ plan: PlanFile) throws(SegcError) -> PlanFile {
        let g = plan.graph, m = plan.metadata
        guard !m.valueGrids.isEmpty else {
            throw SegcError(.unsupported, "the plan has no float twin (int8 plans from `segc quantize` since session 13 record their grids)")
        }
        var gridOf: [Int: PlanValueGrid] = [:]
        for v in m.valueGrids { gridOf[v.value] = v }
        try checkGrids(plan, gridOf)
        func grid(_ v: Int, _ name: String) throws(SegcError) -> PlanValueGrid {
            guard let p = gridOf[v] else { throw SegcError(.malformed, "uint8 value \(v) has no grid", at: .layer(name)) }
            return p
        }
        var weights = PlanWeightBuilder(source: plan.weights)
        var values: [PlanValue] = []
        var ops: [PlanOp] = [], names: [String] = []
        var twinOf: [Int: Int] = [:]   // plan value → twin value
        func newValue(like v: Int) -> Int {
            let pv = g.values[v]
            values.append(PlanValue(dtype: pv.dtype == .u8 ? .f32 : pv.dtype, shape: pv.shape, arenaOffset: 0))
            return values.count - 1
        }
        func twin(_ v: Int, _ name: String) throws(SegcError) -> Int {
            guard let t = twinOf[v] else { throw SegcError(.malformed, "value \(v) is read before it is written", at: .layer(name)) }
            return t
        }
        func relu(_ x: Int, like v: Int, _ name: String) -> Int {
            let y = newValue(like: v)
            ops.append(PlanOp(kind: .relu, inputs: [x], outputs: [y]))
            names.append(name)
            return y
        }
        twinOf[g.input] = newValue(like: g.input)

        for (i, op) in g.ops.enumerated() {
            let name = plan.sourceName(i) ?? "op \(i)"
            let touchesU8 = (op.inputs + op.outputs).contains { $0 >= 0 && $0 < g.values.count && g.values[$0].dtype == .u8 }
            switch op.kind {
            case .quantize:
                let p = try grid(op.outputs[0], name), x = try twin(op.inputs[0], name)
                twinOf[op.outputs[0]] = p.zeroPoint == 0 ? relu(x, like: op.outputs[0], name) : x
            case .dequantize:
                twinOf[op.outputs[0]] = try twin(op.inputs[0], name)
            case .qconv2d, .qconvTranspose2d:
                try conv(op, name)
            case .qchannelAffine:
                let x = op.inputs[0], y = op.outputs[0]
                let px = try grid(x, name), py = try grid(y, name)
                let mul = weights.floats(op.weights[0]), add = weights.floats(op.weights[1])
                let scale = mul.map { $0 * py.scale / px.scale }, bias = add.map { $0 * py.scale }
                var out = newValue(like: y)
                ops.append(PlanOp(kind: .channelAffine, inputs: [try twin(x, name)], outputs: [out],
                                  weights: [weights.add(scale, shape: op.weights[0].shape), weights.add(bias, shape: op.weights[1].shape)]))
                names.append(name)
                if op.ints[PlanOpSchema.QAffine.relu] == 1 || py.zeroPoint == 0 { out = relu(out, like: y, name) }
                twinOf[y] = out
            case .maxPool2d, .concat:   // on uint8 or float32 alike
                try copy(op, name)
            default:
                if touchesU8 {
                    throw SegcError(.unsupported, "\(op.kind.name) on uint8 has no float twin", at: .layer(name))
                }
                try copy(op, name)
            }
        }

        /// A float32 op (or a uint8 max pool / concat) as it is, on the twin's values.
        func copy(_ op: PlanOp, _ name: String) throws(SegcError) {
            var f = op
            f.inputs = []
            for x in op.inputs { f.inputs.append(try twin(x, name)) }
            f.weights = op.weights.map { weights.copy($0) }
            f.outputs = op.outputs.map { v in
                let t = newValue(like: v)
                twinOf[v] = t
                return t
            }
            ops.append(f)
            names.append(name)
        }

        /// qconv2d / qconv_transpose2d → conv2d / conv_transpose2d with float weights.
        func conv(_ op: PlanOp, _ name: String) throws(SegcError) {
            let t = op.kind == .qconvTranspose2d
            let n = t ? PlanOpSchema.ConvTranspose.count : PlanOpSchema.Conv.count
            let hasBiasAt = t ? PlanOpSchema.ConvTranspose.hasBias : PlanOpSchema.Conv.hasBias
            let actAt = t ? PlanOpSchema.ConvTranspose.activation : PlanOpSchema.Conv.activation
            let groupsAt = t ? PlanOpSchema.ConvTranspose.groups : PlanOpSchema.Conv.groups
            guard op.ints.count == n + PlanOpSchema.QConv.extra, op.weights.count >= 3 else {
                throw SegcError(.malformed, "\(op.kind.name) has \(op.ints.count) attributes", at: .layer(name))
            }
            let outF32 = op.ints[n + PlanOpSchema.QConv.outputF32] == 1
            let x = op.inputs[0], y = op.outputs[0]
            let sx = try grid(x, name).scale
            let py: PlanValueGrid? = outF32 ? nil : try grid(y, name)
            let sy = py?.scale ?? 1
            let wref = op.weights[0], w = weights.int8s(wref)
            let bias = weights.int32s(op.weights[1]), mult = weights.floats(op.weights[2])
            let cout = mult.count
            let groups = Int(op.ints[groupsAt])
            guard groups > 0, bias.count == cout, wref.shape.count == 4 else {
                throw SegcError(.malformed, "\(op.kind.name): weights and multipliers disagree", at: .layer(name))
            }
            let channelOf = ConvWeightLayout.outputChannel(shape: wref.shape, transposed: t, groups: groups)
            let wf: [Float] = w.indices.map { k in Float(w[k]) * mult[min(channelOf(k), cout - 1)] * sy / sx }
            let bf = (0..<cout).map { Float(bias[$0]) * mult[$0] * sy }
            var ints = Array(op.ints.prefix(n))
            ints[hasBiasAt] = 1
            var refs = [weights.add(wf, shape: wref.shape), weights.add(bf, shape: [cout])]
            // int8 clamps at 0 on a zero-point-0 grid. After no activation that is a ReLU; after
            // a PReLU it keeps v·a for v < 0 only where a < 0 (then v·a > 0): slopes min(a, 0).
            let clampsAtZero = py?.zeroPoint == 0
            if ints[actAt] == PlanOpSchema.Activation.prelu, op.weights.count > 3 {
                let a = weights.floats(op.weights[3])
                refs.append(clampsAtZero ? weights.add(a.map { Swift.min($0, 0) }, shape: op.weights[3].shape) : weights.copy(op.weights[3]))
            } else if clampsAtZero {
                ints[actAt] = PlanOpSchema.Activation.relu
            }
            var inputs = [try twin(x, name)]
            if op.inputs.count > 1 {
                // The residual's multiplier is s_r / s_y (Int8Lowering): in real numbers it adds as it is.
                let sr = try grid(op.inputs[1], name).scale
                let ratio = op.floats.count > PlanOpSchema.QConv.residualMultiplier ? op.floats[PlanOpSchema.QConv.residualMultiplier] * sy / sr : 0
                guard abs(ratio - 1) < 1e-4 else {
                    throw SegcError(.unsupported, "\(op.kind.name): a residual scaled by \(ratio) has no float twin", at: .layer(name))
                }
                inputs.append(try twin(op.inputs[1], name))
            }
            let out = newValue(like: y)
            twinOf[y] = out
            ops.append(PlanOp(kind: t ? .convTranspose2d : .conv2d, inputs: inputs, outputs: [out], weights: refs, ints: ints))
            names.append(name)
        }

        let input = try twin(g.input, "input"), output = try twin(g.output, "output")
        // Further outputs (ONNX models with several heads) name the int8 plan's values: the
        // twin's are others, and must stay alive to the end of the run as the output does.
        var extras = m.extraOutputs
        for k in extras.indices { extras[k].value = try twin(extras[k].value, extras[k].name) }
        // Arena slots from the twin's liveness (as the lowering does).
        let (first, last) = ArenaPlanner.liveness(values: values.count, ops: ops, input: input,
                                                  toEnd: [output] + extras.map(\.value))
        let size = ArenaPlanner.place(&values, first: first, last: last)
        var meta = m
        meta.extraOutputs = extras
        meta.precision = "fp32"
        meta.rangeGuard = []
        meta.valueGrids = []
        meta.passes.append("float-twin")
        let twinPlan = PlanFile(metadata: meta, graph: PlanGraph(values: values, ops: ops, input: input, output: output, arenaBytes: size),
                                weights: PlanWeights(owned: weights.bytes), sourceMap: names)
        try PlanVerifier.verify(twinPlan)
        return twinPlan
    }
}
