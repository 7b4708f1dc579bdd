import SegcCore
import SegcIR
import SegcPlan

/// IR → plan (architecture.md §3, Lowering): per-op algorithm and layout,
/// arena offsets by liveness, canonical weights in `WGHT`.
package enum Lowering {
    package static func lower(_ graph: Graph, metadata: PlanMetadata) throws(SegcError) -> PlanFile {
        try lowerMapped(graph, metadata: metadata).plan
    }

    /// `lower`, plus the plan value index of every IR activation (what per-value facts
    /// such as a quantized source's grids need to follow the graph into the plan).
    package static func lowerMapped(_ graph: Graph, metadata: PlanMetadata) throws(SegcError)
        -> (plan: PlanFile, values: [ValueID: Int]) {
        try graph.verify()
        guard graph.inputs.count == 1, !graph.outputs.isEmpty else {
            throw SegcError(.unsupported, "a plan needs exactly one input and at least one output")
        }
        if Set(graph.outputs).count != graph.outputs.count || graph.outputs.dropFirst().contains(graph.inputs[0]) {
            throw SegcError(.unsupported, "a further graph output repeats another output or is the input itself")
        }
        var weights = WeightWriter()
        var planValueOf: [ValueID: Int] = [:]
        var values: [PlanValue] = []
        var firstUse: [Int] = [], lastUse: [Int] = []

        func planValue(_ v: ValueID, definedAt op: Int) throws(SegcError) -> Int {
            if let p = planValueOf[v] { return p }
            let t = graph.type(of: v)
            let dtype: PlanDType
            switch t.dtype {
            case .f32: dtype = .f32
            case .i64: dtype = .i64
            default: throw SegcError(.unsupported, "activation '\(graph.values[v.index].name)' has dtype \(t.dtype.rawValue)")
            }
            values.append(PlanValue(dtype: dtype, shape: t.shape, arenaOffset: 0))
            firstUse.append(op); lastUse.append(op)
            planValueOf[v] = values.count - 1
            return values.count - 1
        }
        func use(_ v: ValueID, at op: Int) throws(SegcError) -> Int {
            guard let p = planValueOf[v] else {
                throw SegcError(.mismatch, "internal error: value '\(graph.values[v.index].name)' used before definition")
            }
            lastUse[p] = max(lastUse[p], op)
            return p
        }
        func weight(_ v: ValueID) throws(SegcError) -> WeightRef {
            guard let t = graph.constants[v] else {
                throw SegcError(.unsupported, "'\(graph.values[v.index].name)' must be a constant weight")
            }
            return weights.add(v, t)
        }

        let input = try planValue(graph.inputs[0], definedAt: 0)
        var ops: [PlanOp] = []
        var sources: [String] = []
        for node in graph.nodes {
            let k = ops.count
            var activations: [Int] = []
            var refs: [WeightRef] = []
            for v in node.inputs {
                if graph.isConstant(v) { refs.append(try weight(v)) } else { activations.append(try use(v, at: k)) }
            }
            var outs: [Int] = []
            for v in node.outputs { outs.append(try planValue(v, definedAt: k)) }
            var op = try Self.op(node, graph: graph, activations: activations, weights: refs, outputs: outs, weightWriter: &weights)
            op.outputs = outs
            ops.append(op)
            sources.append(node.name)
        }
        let output = try use(graph.outputs[0], at: ops.count)
        // Further outputs stay live to the end of the run too, so nothing overwrites them.
        var extras: [(ValueID, Int)] = []
        for v in graph.outputs.dropFirst() {
            guard !graph.isConstant(v) else { throw SegcError(.unsupported, "graph output '\(graph.values[v.index].name)' is a constant") }
            extras.append((v, try use(v, at: ops.count)))
        }
        lastUse[input] = max(lastUse[input], 0)

        let intervals = values.indices.map { ArenaPlanner.Interval(bytes: values[$0].byteCount, first: firstUse[$0], last: lastUse[$0]) }
        let (offsets, size) = ArenaPlanner.plan(intervals)
        for i in values.indices { values[i].arenaOffset = offsets[i] }

        var meta = metadata
        meta.inputShape = values[input].shape
        meta.outputShape = values[output].shape
        // Output names matter once there are several (`run -o` writes `<name>.npy`);
        // single-output plans stay as they were.
        if !extras.isEmpty { meta.outputName = graph.values[graph.outputs[0].index].name }
        meta.extraOutputs = extras.map { v, p in
            PlanExtraOutput(name: graph.values[v.index].name, value: p, shape: values[p].shape, dtype: values[p].dtype.jsonName)
        }
        var planGraph = PlanGraph(values: values, ops: ops, input: input, output: output, arenaBytes: size)
        for i in planGraph.opsFeedingIndexPools where [.conv2d, .convTranspose2d].contains(planGraph.ops[i].kind) {
            planGraph.ops[i].algorithm = .exact
        }
        return (PlanFile(metadata: meta, graph: planGraph, weights: PlanWeights(owned: weights.bytes), sourceMap: sources),
                planValueOf)
    }

    static func pool(_ p: Pool2d, last: Bool) -> [Int64] {
        [p.kh, p.kw, p.strideH, p.strideW, p.padTop, p.padLeft, p.padBottom, p.padRight, p.dilationH, p.dilationW,
         p.ceilMode ? 1 : 0, last ? 1 : 0].map { Int64($0) }
    }

    static func activationCode(_ a: Activation) -> Int64 {
        switch a {
        case .none: return 0
        case .relu: return 1
        case .prelu: return 2
        }
    }

    /// One IR node → one plan op (schema in PlanTypes.swift).
    static func op(_ node: Node, graph: Graph, activations: [Int], weights: [WeightRef], outputs: [Int],
                   weightWriter: inout WeightWriter) throws(SegcError) -> PlanOp {
        func fail(_ m: String) -> SegcError { SegcError(.unsupported, m, at: .node(node.name)) }
        switch node.op {
        case .conv2d(let a):
            let ints = [a.kh, a.kw, a.strideH, a.strideW, a.padTop, a.padLeft, a.padBottom, a.padRight, a.dilationH, a.dilationW,
                        a.groups, a.hasBias ? 1 : 0].map { Int64($0) } + [activationCode(a.epilogue.activation), a.epilogue.residual ? 1 : 0]
            return PlanOp(kind: .conv2d, inputs: activations, outputs: outputs, weights: weights, ints: ints, algorithm: .gemm)
        case .convTranspose2d(let a):
            let ints = [a.kh, a.kw, a.strideH, a.strideW, a.padTop, a.padLeft, a.padBottom, a.padRight, a.outputPaddingH,
                        a.outputPaddingW, a.dilationH, a.dilationW, a.groups, a.hasBias ? 1 : 0].map { Int64($0) }
                + [activationCode(a.epilogue.activation), a.epilogue.residual ? 1 : 0]
            return PlanOp(kind: .convTranspose2d, inputs: activations, outputs: outputs, weights: weights, ints: ints, algorithm: .gemm)
        case .batchNormTraining(let b):
            // The four parameter vectors as one [4, C] weight: scale, bias, mean, variance.
            var params: [Float] = []
            for v in node.inputs.dropFirst() {
                guard let t = graph.constants[v]?.floats() else { throw fail("batch norm parameters must be constants") }
                params += t
            }
            let p = weightWriter.addFresh(Tensor(params, shape: [4, params.count / 4]))
            return PlanOp(kind: .batchNormTraining, inputs: activations, outputs: outputs, weights: [p],
                          floats: [b.epsilon, b.momentum])
        case .batchNorm(let bn):
            // Unfolded BN (--no-optimize): stored as its exact per-channel affine.
            let ins = node.inputs
            guard let g = graph.constants[ins[1]]?.floats(), let b = graph.constants[ins[2]]?.floats(),
                  let m = graph.constants[ins[3]]?.floats(), let v = graph.constants[ins[4]]?.floats() else {
                throw fail("batch norm statistics must be constants")
            }
            let (scale, shift) = bn.affine(gamma: g, beta: b, mean: m, variance: v)
            let s = weightWriter.addFresh(Tensor(scale, shape: [g.count]))
            let t = weightWriter.addFresh(Tensor(shift, shape: [g.count]))
            return PlanOp(kind: .channelAffine, inputs: activations, outputs: outputs, weights: [s, t])
        case .channelAffine:
            return PlanOp(kind: .channelAffine, inputs: activations, outputs: outputs, weights: weights)
        case .relu: return PlanOp(kind: .relu, inputs: activations, outputs: outputs)
        case .sigmoid: return PlanOp(kind: .sigmoid, inputs: activations, outputs: outputs)
        case .prelu: return PlanOp(kind: .prelu, inputs: activations, outputs: outputs, weights: weights)
        case .add, .sub, .mul, .div:
            let kind: PlanOpKind
            switch node.op { case .add: kind = .add; case .sub: kind = .sub; case .mul: kind = .mul; default: kind = .div }
            if graph.isConstant(node.inputs[0]) { throw fail("a constant first operand is not supported") }
            return PlanOp(kind: kind, inputs: activations, outputs: outputs, weights: weights)
        case .concat(let axis):
            if !weights.isEmpty { throw fail("concat of constants is not supported") }
            return PlanOp(kind: .concat, inputs: activations, outputs: outputs, ints: [Int64(axis)])
        case .maxPool2d(let p):
            return PlanOp(kind: .maxPool2d, inputs: activations, outputs: outputs, ints: pool(p, last: p.returnsIndices))
        case .avgPool2d(let p):
            return PlanOp(kind: .avgPool2d, inputs: activations, outputs: outputs, ints: pool(p, last: p.countIncludePad))
        case .maxUnpool2d(let u):
            return PlanOp(kind: .maxUnpool2d, inputs: activations, outputs: outputs, ints: [Int64(u.outputH), Int64(u.outputW)])
        case .globalAveragePool:
            return PlanOp(kind: .globalAveragePool, inputs: activations, outputs: outputs)
        case .resize(let r):
            let mode: Int64
            switch r.mode { case .nearest: mode = 0; case .linear: mode = 1; case .cubic: mode = 2 }
            let coord: Int64
            switch r.coordinates {
            case .halfPixel: coord = 0; case .pytorchHalfPixel: coord = 1; case .alignCorners: coord = 2; case .asymmetric: coord = 3
            case .halfPixelSymmetric: coord = 4; case .tfCropAndResize: coord = 5
            }
            let near: Int64
            switch r.nearest { case .floor: near = 0; case .ceil: near = 1; case .roundPreferFloor: near = 2; case .roundPreferCeil: near = 3 }
            var ints = [mode, coord, near, Int64(r.outputH), Int64(r.outputW)]
            guard let g = r.general else {
                return PlanOp(kind: .resize, inputs: activations, outputs: outputs, ints: ints)
            }
            // The general form (PlanFormat.md): two more ints and eight floats.
            ints += [g.excludeOutside ? 1 : 0, g.antialias ? 1 : 0]
            let floats = [g.scaleH, g.scaleW, g.cubicA, g.extrapolation] + g.roi
            return PlanOp(kind: .resize, inputs: activations, outputs: outputs, ints: ints, floats: floats)
        case .pad(let p):
            return PlanOp(kind: .pad, inputs: activations, outputs: outputs, ints: p.pads.map { Int64($0) }, floats: [p.value])
        case .softmax(let axis):
            return PlanOp(kind: .softmax, inputs: activations, outputs: outputs, ints: [Int64(axis)])
        case .quantizeDequantize(let q):
            return PlanOp(kind: .quantizeDequantize, inputs: activations, outputs: outputs,
                          ints: [Int64(q.zeroPoint), Int64(q.qmin), Int64(q.qmax)], floats: [q.scale])
        case .reshape(let shape):
            return PlanOp(kind: .reshape, inputs: activations, outputs: outputs, ints: shape.map { Int64($0) })
        }
    }
}

/// Builds the `WGHT` section: float32 canonical weights at 64-byte aligned
/// offsets, each constant written once.
struct WeightWriter {
    var bytes: [UInt8] = []
    var written: [ValueID: WeightRef] = [:]

    mutating func add(_ id: ValueID, _ t: Tensor) -> WeightRef {
        if let r = written[id] { return r }
        let r = addFresh(t)
        written[id] = r
        return r
    }

    mutating func addFresh(_ t: Tensor) -> WeightRef {
        while bytes.count % 64 != 0 { bytes.append(0) }
        let offset = bytes.count
        if t.dtype == .i64 && t.quant == nil {
            for v in t.int64s() { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
            return WeightRef(offset: offset, dtype: .i64, shape: t.shape)
        }
        let f = t.floats()
        bytes.reserveCapacity(bytes.count + f.count * 4)
        for v in f { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return WeightRef(offset: offset, dtype: .f32, shape: t.shape)
    }
}
