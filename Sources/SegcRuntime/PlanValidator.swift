import CSegcKernels
import SegcCore
import SegcPlan

/// Where a kernel argument points: nowhere, into the arena (a value), into the
/// prepared weights (byte offset in the store), or at the op's packed weight.
package enum Binding: Sendable, Hashable {
    case none
    case value(Int)
    /// Into a value at a byte offset: image `n` of a batched value (see `OpChecker.steps`).
    case valueAt(Int, Int)
    case weight(Int)
    case packed
}

/// The conv parameters carry one pointer, `prepared`, which a `Step` never sets (it stays
/// nil in the model's validated steps; each session fills it in its own copy of the
/// kernel descriptors), so sharing the validated steps across threads shares no pointer.
extension segc_conv_params: @unchecked @retroactive Sendable {}

/// One kernel call of a plan op, with every attribute checked and every pointer
/// still symbolic (bound per session).
package struct Step: Sendable {
    var ckind: Int32
    var sub: Int32 = 0
    var conv = segc_conv_params()
    var pool = segc_pool_params()
    var d: [Int64] = []
    var fval: Float = 0
    var resize = segc_resize_params()
    var qconv = segc_qconv_params()
    var in0: Binding = .none, in1: Binding = .none
    var w0: Binding = .none, w1: Binding = .none, w2: Binding = .none
    var inIdx: Binding = .none, out0: Binding = .none, outIdx: Binding = .none, out1: Binding = .none
    var fval2: Float = 0
    /// CONV only: a fused add + activation after the epilogue (`ConvTailFusion`).
    var tailRes: Binding = .none, tailSlope: Binding = .none
    var tailAct: Int32 = 0
    var tailNSlope: Int64 = 0
    /// QCONV only (`QConvTailFusion`): the tail's float output, its uint8 copy (or none) on
    /// that grid, and whether the conv is the add's first operand.
    var tailOut: Binding = .none, tailQ: Binding = .none
    var tailQScale: Float = 0
    var tailQZeroPoint: Int32 = 0
    var tailConvFirst: Int32 = 0
    /// Plan ops a fused step stands for (1 for an unfused step).
    package var span = 1
    /// Workspace floats: per thread and shared.
    var wsPerThread: Int = 0
    var wsShared: Int = 0

    init(_ kind: Int32) { ckind = kind }
}

/// A validated plan op: its kind and the kernel calls that execute it.
package struct PreparedOp: Sendable {
    package var kind: PlanOpKind
    var steps: [Step]
    /// conv params (for conv / convTranspose2d; used to pack weights).
    var conv: segc_conv_params { steps.first?.conv ?? segc_conv_params() }
    /// int8 conv params and whether it is transposed (qconv2d / qconvTranspose2d).
    var qconv: segc_qconv_params { steps.first?.qconv ?? segc_qconv_params() }
    var isQConv: Bool { kind == .qconv2d || kind == .qconvTranspose2d }
}

/// Checks a plan op by op against the schema of `PlanOp` and what the kernels
/// support, and turns each op into kernel steps. Nothing from the plan is trusted:
/// indices, offsets, shapes and attribute values are all checked here, so the
/// executor can run without checks.
enum PlanValidator {
    static func validate(_ plan: PlanFile) throws(SegcError) -> [PreparedOp] {
        let g = plan.graph
        if g.arenaBytes < 0 { throw SegcError(.malformed, "negative arena size") }
        try Limits.check(g.arenaBytes, Limits.maxAllocationBytes, "arena bytes")
        for (i, v) in g.values.enumerated() {
            let n = try Checked.elementCount(v.shape, "value \(i)")
            let bytes = try Checked.mul(n, v.dtype.byteSize)
            let end = try Checked.add(v.arenaOffset, bytes)
            if v.arenaOffset < 0 || end > g.arenaBytes {
                throw SegcError(.malformed, "value \(i) (\(v.arenaOffset)..<\(end)) lies outside the arena (\(g.arenaBytes) bytes)")
            }
            if v.arenaOffset % v.dtype.byteSize != 0 {
                throw SegcError(.malformed, "value \(i) is misaligned (offset \(v.arenaOffset))")
            }
        }
        guard g.input >= 0, g.input < g.values.count, g.output >= 0, g.output < g.values.count else {
            throw SegcError(.malformed, "graph input/output index out of range")
        }
        if g.values[g.input].dtype != .f32 || g.values[g.output].dtype != .f32 {
            throw SegcError(.unsupported, "graph input and output must be float32")
        }
        for e in plan.metadata.extraOutputs where e.value >= g.values.count || g.values[e.value].dtype != .f32 {
            throw SegcError(.unsupported, "extra output '\(e.name)' must be a float32 value")
        }
        var out: [PreparedOp] = []
        out.reserveCapacity(g.ops.count)
        let wcount = plan.weights.count
        for (i, op) in g.ops.enumerated() {
            let where_: SegcError.Location = .layer(plan.sourceName(i) ?? "op \(i) (\(op.kind.name))")
            do throws(SegcError) {
                var c = OpChecker(op: op, values: g.values, weightBytes: wcount)
                out.append(PreparedOp(kind: op.kind, steps: try c.steps()))
            } catch {
                throw error.at(where_)
            }
        }
        return out
    }
}

/// Per-op checks.
private struct OpChecker {
    let op: PlanOp
    var values: [PlanValue]
    let weightBytes: Int

    init(op: PlanOp, values: [PlanValue], weightBytes: Int) {
        self.op = op; self.values = values; self.weightBytes = weightBytes
    }

    func fail(_ m: String) -> SegcError { SegcError(.malformed, "\(op.kind.name): \(m)") }
    func unsupported(_ m: String) -> SegcError { SegcError(.unsupported, "\(op.kind.name): \(m)") }

    func value(_ idx: Int, _ dtype: PlanDType = .f32) throws(SegcError) -> PlanValue {
        guard idx >= 0, idx < values.count else { throw fail("value index \(idx) out of range") }
        let v = values[idx]
        if v.dtype != dtype { throw unsupported("value \(idx) has dtype \(v.dtype), expected \(dtype)") }
        return v
    }

    func input(_ k: Int, _ dtype: PlanDType = .f32) throws(SegcError) -> (Int, PlanValue) {
        guard k < op.inputs.count else { throw fail("missing input \(k)") }
        return (op.inputs[k], try value(op.inputs[k], dtype))
    }

    func output(_ k: Int, _ dtype: PlanDType = .f32) throws(SegcError) -> (Int, PlanValue) {
        guard k < op.outputs.count else { throw fail("missing output \(k)") }
        return (op.outputs[k], try value(op.outputs[k], dtype))
    }

    func weight(_ k: Int) throws(SegcError) -> WeightRef {
        guard k < op.weights.count else { throw fail("missing weight \(k)") }
        let w = op.weights[k]
        if w.dtype != .f32 { throw unsupported("weight \(k) has dtype \(w.dtype); only float32 is executed") }
        let n = try Checked.elementCount(w.shape, "weight \(k)")
        let end = try Checked.add(w.offset, try Checked.mul(n, 4))
        if w.offset < 0 || w.offset % 4 != 0 || end > weightBytes {
            throw fail("weight \(k) (\(w.offset)..<\(end)) lies outside the weights (\(weightBytes) bytes)")
        }
        return w
    }

    func ints(_ n: Int) throws(SegcError) -> [Int] {
        if op.ints.count != n { throw fail("expected \(n) integer attributes, found \(op.ints.count)") }
        var r: [Int] = []
        for v in op.ints {
            if v < Int64(Int32.min) || v > Int64(Int32.max) { throw fail("attribute \(v) out of range") }
            r.append(Int(v))
        }
        return r
    }

    /// [1, C, H, W] → (C, H, W).
    func chw(_ v: PlanValue, _ what: String) throws(SegcError) -> (Int, Int, Int) {
        if v.shape.count != 4 { throw unsupported("\(what) must have rank 4, has \(v.shape)") }
        if v.shape[0] != 1 { throw unsupported("\(what): batch \(v.shape[0]) (only batch 1 is executed)") }
        if v.shape[1] <= 0 || v.shape[2] <= 0 || v.shape[3] <= 0 { throw fail("\(what) has an empty dimension") }
        return (v.shape[1], v.shape[2], v.shape[3])
    }

    func expectShape(_ v: PlanValue, _ shape: [Int], _ what: String) throws(SegcError) {
        if v.shape != shape { throw SegcError(.mismatch, "\(op.kind.name): \(what) has shape \(v.shape), expected \(shape)") }
    }

    /// Ops whose kernels take one `[C, H, W]` image; a batch of N runs them N times.
    static let perImage: Set<PlanOpKind> = [.conv2d, .convTranspose2d, .qconv2d, .qconvTranspose2d, .qchannelAffine,
                                            .maxPool2d, .avgPool2d, .maxUnpool2d,
                                            .globalAveragePool, .resize, .prelu, .channelAffine]

    /// The kernel calls of the op. A batch N > 1 (ONNX models with a fixed batch) of a
    /// per-image op is checked as batch 1 and its calls repeated per image, each value
    /// binding moved to that image (the other kernels take whole tensors).
    mutating func steps() throws(SegcError) -> [Step] {
        guard Self.perImage.contains(op.kind), let x0 = op.inputs.first, x0 >= 0, x0 < values.count,
              values[x0].shape.count == 4, values[x0].shape[0] > 1 else { return try stepsOfOne() }
        let n = values[x0].shape[0]
        var one = self
        var imageBytes: [Int: Int] = [:]
        for v in op.inputs + op.outputs {
            guard v >= 0, v < values.count, values[v].shape.count == 4, values[v].shape[0] == n else {
                throw unsupported("operands with different batch sizes")
            }
            one.values[v].shape[0] = 1
            imageBytes[v] = values[v].byteCount / n
        }
        let base = try one.stepsOfOne()
        func shift(_ b: Binding, _ i: Int) -> Binding {
            if case .value(let v) = b, let bytes = imageBytes[v] { return .valueAt(v, i * bytes) }
            return b
        }
        var out: [Step] = []
        for i in 0..<n {
            for var s in base {
                s.in0 = shift(s.in0, i); s.in1 = shift(s.in1, i); s.inIdx = shift(s.inIdx, i)
                s.out0 = shift(s.out0, i); s.outIdx = shift(s.outIdx, i)
                out.append(s)
            }
        }
        return out
    }

    mutating func stepsOfOne() throws(SegcError) -> [Step] {
        switch op.kind {
        case .conv2d, .convTranspose2d: return [try conv()]
        case .maxPool2d, .avgPool2d: return [try pool()]
        case .maxUnpool2d:
            let a = try ints(2)
            let (xi, x) = try input(0)
            let (ii, idx) = try input(1, .i64)
            let (oi, y) = try output(0)
            let (c, h, w) = try chw(x, "input")
            try expectShape(idx, x.shape, "indices")
            try expectShape(y, [1, c, a[0], a[1]], "output")
            if a[0] <= 0 || a[1] <= 0 { throw fail("empty output") }
            var s = Step(Int32(SEGC_OP_UNPOOL))
            s.d = [c, h, w, a[0], a[1]].map { Int64($0) }
            s.in0 = .value(xi); s.inIdx = .value(ii); s.out0 = .value(oi)
            return [s]
        case .globalAveragePool:
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            let (c, h, w) = try chw(x, "input")
            try expectShape(y, [1, c, 1, 1], "output")
            var s = Step(Int32(SEGC_OP_GAP))
            s.d = [Int64(c), Int64(h * w)]
            s.in0 = .value(xi); s.out0 = .value(oi)
            return [s]
        case .resize where op.ints.count == PlanOpSchema.Resize.generalCount:
            // ONNX Resize in full: the general kernel, which builds its tap tables per run.
            typealias R = PlanOpSchema.Resize
            let a = try ints(R.generalCount)
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            let (c, h, w) = try chw(x, "input")
            let f = op.floats
            guard f.count == R.generalFloatCount, f.allSatisfy(\.isFinite) else { throw fail("resize parameters") }
            var p = segc_resize_params()
            p.mode = Int32(a[R.mode]); p.coord = Int32(a[R.coordinates]); p.nearest = Int32(a[R.nearest])
            p.exclude_outside = Int32(a[R.excludeOutside]); p.antialias = Int32(a[R.antialias])
            p.scale_h = f[R.scaleH]; p.scale_w = f[R.scaleW]; p.cubic_a = f[R.cubicA]; p.extrapolation = f[R.extrapolation]
            p.roi_h0 = f[R.roi]; p.roi_w0 = f[R.roi + 1]; p.roi_h1 = f[R.roi + 2]; p.roi_w1 = f[R.roi + 3]
            if !(0...2).contains(p.mode) || !(0...5).contains(p.coord) || !(0...3).contains(p.nearest) {
                throw unsupported("resize mode \(p.mode) coordinates \(p.coord) nearest \(p.nearest)")
            }
            if a[R.outH] <= 0 || a[R.outW] <= 0 { throw fail("empty output") }
            if segc_resize_general_taps(&p, Int64(h), p.scale_h) <= 0 || segc_resize_general_taps(&p, Int64(w), p.scale_w) <= 0 {
                throw unsupported("resize scales \(p.scale_h), \(p.scale_w)")
            }
            try expectShape(y, [1, c, a[R.outH], a[R.outW]], "output")
            var s = Step(Int32(SEGC_OP_RESIZE_GENERAL))
            s.d = [c, h, w, a[R.outH], a[R.outW]].map { Int64($0) }
            s.resize = p
            s.in0 = .value(xi); s.out0 = .value(oi)
            s.wsShared = Int(segc_resize_general_ws(&p, Int64(a[R.outH]), Int64(a[R.outW])))
            return [s]
        case .resize:
            let a = try ints(5)
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            let (c, h, w) = try chw(x, "input")
            if !(0...1).contains(a[0]) || !(0...3).contains(a[1]) || !(0...3).contains(a[2]) {
                throw unsupported("mode \(a[0]) coordinates \(a[1]) nearest \(a[2])")
            }
            if a[3] <= 0 || a[4] <= 0 { throw fail("empty output") }
            try expectShape(y, [1, c, a[3], a[4]], "output")
            var s = Step(Int32(SEGC_OP_RESIZE))
            s.d = [c, h, w, a[3], a[4], a[0], a[1], a[2]].map { Int64($0) }
            s.in0 = .value(xi); s.out0 = .value(oi)
            s.wsShared = Int(segc_resize_ws(Int64(a[3]), Int64(a[4])))
            return [s]
        case .add, .sub, .mul, .div: return [try binary()]
        case .relu, .sigmoid:
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            try expectShape(y, x.shape, "output")
            var s = Step(Int32(op.kind == .relu ? SEGC_OP_RELU : SEGC_OP_SIGMOID))
            s.d = [Int64(x.elementCount)]
            s.in0 = .value(xi); s.out0 = .value(oi)
            return [s]
        case .prelu, .channelAffine:
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            try expectShape(y, x.shape, "output")
            if x.shape.count < 2 || x.shape[0] != 1 { throw unsupported("input must be [1, C, …], is \(x.shape)") }
            let c = x.shape[1], hw = x.elementCount / max(c, 1)
            if c <= 0 || hw <= 0 { throw fail("empty input") }
            if op.kind == .prelu {
                let sl = try weight(0)
                if sl.elementCount != 1 && sl.elementCount != c { throw SegcError(.mismatch, "prelu: slope has \(sl.elementCount) elements for \(c) channels") }
                var s = Step(Int32(SEGC_OP_PRELU))
                s.d = [Int64(c), Int64(hw), Int64(sl.elementCount)]
                s.in0 = .value(xi); s.out0 = .value(oi); s.w0 = .weight(sl.offset)
                return [s]
            }
            let sc = try weight(0), bi = try weight(1)
            if sc.elementCount != c || bi.elementCount != c { throw SegcError(.mismatch, "channel_affine: scale/bias must have \(c) elements") }
            var s = Step(Int32(SEGC_OP_AFFINE))
            s.d = [Int64(c), Int64(hw)]
            s.in0 = .value(xi); s.out0 = .value(oi); s.w0 = .weight(sc.offset); s.w1 = .weight(bi.offset)
            return [s]
        case .concat: return try concat()
        case .pad: return [try pad()]
        case .softmax:
            let a = try ints(1)
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            try expectShape(y, x.shape, "output")
            let r = x.shape.count
            let axis = a[0] < 0 ? a[0] + r : a[0]
            if axis < 0 || axis >= r { throw fail("axis \(a[0]) out of range for rank \(r)") }
            let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
            if x.elementCount == 0 { throw fail("empty input") }
            var s = Step(Int32(SEGC_OP_SOFTMAX))
            s.d = [Int64(outer), Int64(x.shape[axis]), Int64(inner)]
            s.in0 = .value(xi); s.out0 = .value(oi)
            s.wsPerThread = Int(segc_softmax_ws())
            return [s]
        case .batchNormTraining:
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            let (si, st) = try output(1)
            try expectShape(y, x.shape, "output")
            if x.shape.count != 4 || x.elementCount == 0 { throw unsupported("input must be a non-empty [N,C,H,W]") }
            let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
            try expectShape(st, [2, c], "statistics")
            let p = try weight(0)
            if p.elementCount != 4 * c { throw SegcError(.mismatch, "batch_norm_training: parameters must have \(4 * c) elements") }
            guard op.floats.count == 2, op.floats[0] >= 0, op.floats[1].isFinite else { throw fail("epsilon/momentum") }
            var s = Step(Int32(SEGC_OP_BN_TRAINING))
            s.d = [Int64(n), Int64(c), Int64(hw)]
            s.fval = op.floats[0]; s.fval2 = op.floats[1]
            s.in0 = .value(xi); s.w0 = .weight(p.offset); s.out0 = .value(oi); s.out1 = .value(si)
            return [s]
        case .reshape:
            // A copy of the elements (row-major order is unchanged); the shapes were
            // checked by plan verification, the element counts are checked again here.
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            if x.elementCount != y.elementCount { throw fail("reshape changes the element count") }
            var s = Step(Int32(SEGC_OP_COPY_ROWS))
            s.d = [1, Int64(x.elementCount), Int64(x.elementCount), 0]
            s.in0 = .value(xi); s.out0 = .value(oi)
            return [s]
        case .quantize, .dequantize: return [try quantizeStep()]
        case .qchannelAffine: return [try qaffineStep()]
        case .qconv2d, .qconvTranspose2d: return [try qconv()]
        case .quantizeDequantize:
            typealias Q = PlanOpSchema.QuantizeDequantize
            let a = try ints(Q.count)
            if op.floats.count != Q.floatCount { throw fail("expected the scale") }
            let scale = op.floats[Q.scale]
            let (zp, qmin, qmax) = (a[Q.zeroPoint], a[Q.qmin], a[Q.qmax])
            if !(scale.isFinite && scale > 0) { throw fail("scale \(scale) must be finite and positive") }
            if !(-32768...65535).contains(qmin) || !(-32768...65535).contains(qmax) || qmin >= qmax {
                throw fail("bad quantized range \(qmin)...\(qmax)")
            }
            if zp < qmin || zp > qmax { throw fail("zero point \(zp) outside \(qmin)...\(qmax)") }
            let (xi, x) = try input(0)
            let (oi, y) = try output(0)
            try expectShape(y, x.shape, "output")
            var s = Step(Int32(SEGC_OP_QDQ))
            s.d = [Int64(x.elementCount), Int64(zp), Int64(qmin), Int64(qmax)]
            s.fval = scale
            s.in0 = .value(xi); s.out0 = .value(oi)
            return [s]
        }
    }

    /// Zero point attribute (0…255).
    func zeroPoint(_ v: Int, _ what: String) throws(SegcError) -> Int32 {
        if !(0...255).contains(v) { throw fail("\(what) zero point \(v) outside 0...255") }
        return Int32(v)
    }

    /// A weight of a given dtype, inside WGHT and aligned for it.
    func typedWeight(_ k: Int, _ dtype: PlanDType) throws(SegcError) -> WeightRef {
        guard k < op.weights.count else { throw fail("missing weight \(k)") }
        let w = op.weights[k]
        if w.dtype != dtype { throw unsupported("weight \(k) has dtype \(w.dtype), expected \(dtype)") }
        let n = try Checked.elementCount(w.shape, "weight \(k)")
        let end = try Checked.add(w.offset, try Checked.mul(n, dtype.byteSize))
        if w.offset < 0 || w.offset % 64 != 0 || end > weightBytes {
            throw fail("weight \(k) (\(w.offset)..<\(end)) lies outside the weights (\(weightBytes) bytes)")
        }
        return w
    }

    /// quantize / dequantize: one elementwise kernel call.
    func quantizeStep() throws(SegcError) -> Step {
        let a = try ints(PlanOpSchema.Quantize.count)
        guard op.floats.count == PlanOpSchema.Quantize.floatCount else { throw fail("expected the scale") }
        let scale = op.floats[PlanOpSchema.Quantize.scale]
        if !(scale.isFinite && scale > 0) { throw fail("scale \(scale) must be finite and positive") }
        let toU8 = op.kind == .quantize
        let (xi, x) = try input(0, toU8 ? .f32 : .u8)
        let (oi, y) = try output(0, toU8 ? .u8 : .f32)
        try expectShape(y, x.shape, "output")
        var s = Step(Int32(toU8 ? SEGC_OP_QUANTIZE : SEGC_OP_DEQUANTIZE))
        s.d = [Int64(x.elementCount), Int64(try zeroPoint(a[PlanOpSchema.Quantize.zeroPoint], "the"))]
        s.fval = scale
        s.in0 = .value(xi); s.out0 = .value(oi)
        return s
    }

    /// qchannelAffine: uint8 → uint8 per-channel affine (+ relu).
    func qaffineStep() throws(SegcError) -> Step {
        typealias A = PlanOpSchema.QAffine
        let a = try ints(A.count)
        let (xi, x) = try input(0, .u8)
        let (oi, y) = try output(0, .u8)
        try expectShape(y, x.shape, "output")
        let (c, h, w) = try chw(x, "input")
        let mul = try weight(0), add = try weight(1)
        if mul.elementCount != c || add.elementCount != c { throw SegcError(.mismatch, "qchannel_affine: multiplier/addend must have \(c) elements") }
        if !(0...1).contains(a[A.relu]) { throw fail("relu flag \(a[A.relu])") }
        var s = Step(Int32(SEGC_OP_QAFFINE))
        s.d = [Int64(c), Int64(h * w), Int64(try zeroPoint(a[A.xZeroPoint], "x")), Int64(try zeroPoint(a[A.yZeroPoint], "y")),
               Int64(a[A.relu])]
        s.in0 = .value(xi); s.out0 = .value(oi); s.w0 = .weight(mul.offset); s.w1 = .weight(add.offset)
        return s
    }

    /// qconv2d / qconvTranspose2d: geometry checked as for the float convs, then the int8
    /// operands (uint8 x and residual, int8 weight packed per session level, int32 bias,
    /// float multiplier, optional slope).
    mutating func qconv() throws(SegcError) -> Step {
        let t = op.kind == .qconvTranspose2d
        let base = t ? PlanOpSchema.ConvTranspose.count : PlanOpSchema.Conv.count
        let a = try ints(base + PlanOpSchema.QConv.extra)
        // The float form checks geometry; its dtypes are replaced below.
        var float = op
        float.kind = t ? .convTranspose2d : .conv2d
        float.ints = Array(op.ints[..<base])
        let residual = a[t ? PlanOpSchema.ConvTranspose.residual : PlanOpSchema.Conv.residual]
        let hasBias = a[t ? PlanOpSchema.ConvTranspose.hasBias : PlanOpSchema.Conv.hasBias]
        let act = a[t ? PlanOpSchema.ConvTranspose.activation : PlanOpSchema.Conv.activation]
        if hasBias != 1 { throw fail("a quantized conv always has its int32 bias") }
        let outF32 = a[base + PlanOpSchema.QConv.outputF32]
        if !(0...1).contains(outF32) || !(0...1).contains(residual) || !(0...2).contains(act) { throw fail("bad flag attribute") }
        guard op.floats.count == PlanOpSchema.QConv.floatCount, op.floats[0].isFinite, op.floats[0] >= 0 else {
            throw fail("residual multiplier")
        }
        // Check geometry with float stand-ins of the operands (same shapes, float dtypes).
        // Arena slots are checked below with the real byte sizes; the stand-ins get
        // disjoint ones so the float check's overlap test does not misfire.
        var shadow = OpChecker(op: float, values: values, weightBytes: weightBytes)
        for (k, v) in (op.inputs + op.outputs).enumerated() where v >= 0 && v < values.count {
            shadow.values[v].dtype = .f32
            shadow.values[v].arenaOffset = k << 40
        }
        let wq = try typedWeight(0, .i8)
        let bias = try typedWeight(1, .i32)
        let mult = try typedWeight(2, .f32)
        var fw = [WeightRef(offset: 0, dtype: .f32, shape: wq.shape), WeightRef(offset: 0, dtype: .f32, shape: bias.shape)]
        if act == 2 { fw.append(try weight(3)) }
        if op.weights.count != 3 + (act == 2 ? 1 : 0) { throw fail("expected \(3 + (act == 2 ? 1 : 0)) weights") }
        shadow = OpChecker(op: { var f = float; f.weights = fw; return f }(), values: shadow.values, weightBytes: Int.max / 2)
        let geometry = try shadow.conv()
        let (xi, x) = try input(0, .u8)
        let (oi, y) = try output(0, outF32 == 1 ? .f32 : .u8)
        if x.overlaps(y) {
            throw unsupported("output overlaps the input")
        }
        let cout = y.shape[1]
        if bias.elementCount != cout || mult.elementCount != cout { throw SegcError(.mismatch, "\(op.kind.name): bias/multiplier must have \(cout) elements") }
        var s = Step(Int32(SEGC_OP_QCONV))
        s.sub = t ? 1 : 0
        var q = segc_qconv_params()
        let c = geometry.conv
        q.cin = c.cin; q.h = c.h; q.w = c.w; q.cout = c.cout; q.oh = c.oh; q.ow = c.ow
        q.kh = c.kh; q.kw = c.kw; q.sh = c.sh; q.sw = c.sw; q.pt = c.pt; q.pl = c.pl; q.dh = c.dh; q.dw = c.dw
        q.groups = c.groups; q.act = c.act; q.nslope = c.nslope
        q.out_f32 = Int32(outF32)
        q.x_zp = try zeroPoint(a[base + PlanOpSchema.QConv.xZeroPoint], "x")
        q.y_zp = try zeroPoint(a[base + PlanOpSchema.QConv.yZeroPoint], "y")
        q.r_zp = try zeroPoint(a[base + PlanOpSchema.QConv.residualZeroPoint], "residual")
        q.r_mul = op.floats[0]
        s.qconv = q
        s.in0 = .value(xi); s.out0 = .value(oi)
        if residual == 1 {
            let (ri, r) = try input(1, .u8)
            if ri == xi { throw unsupported("residual aliases the input") }
            // The kernels read the residual where they write y: the same slot or none of it.
            if r.arenaOffset != y.arenaOffset && r.overlaps(y) {
                throw unsupported("residual partly overlaps the output")
            }
            if outF32 == 1 && r.arenaOffset == y.arenaOffset { throw unsupported("residual aliases a float output") }
            s.in1 = .value(ri)
        }
        s.w0 = .packed
        s.w1 = .weight(mult.offset)
        if act == 2 { s.w2 = .weight(op.weights[3].offset) }
        s.wsPerThread = Int(segc_qconv_ws(&q, Int32(s.sub)))
        if s.wsPerThread < 0 { throw unsupported("geometry not supported by the int8 kernels") }
        return s
    }

    mutating func conv() throws(SegcError) -> Step {
        let t = op.kind == .convTranspose2d
        let a = try ints(t ? 16 : 14)
        let (kh, kw, sh, sw, pt, pl, pb, pr) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
        let (oph, opw) = t ? (a[8], a[9]) : (0, 0)
        let b = t ? 10 : 8
        let (dh, dw, groups, hasBias, act, residual) = (a[b], a[b + 1], a[b + 2], a[b + 3], a[b + 4], a[b + 5])
        if kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || groups <= 0 {
            throw fail("kernel, stride, dilation and groups must be positive")
        }
        if pt < 0 || pl < 0 || pb < 0 || pr < 0 || oph < 0 || opw < 0 { throw fail("negative padding") }
        if !(0...1).contains(hasBias) || !(0...2).contains(act) || !(0...1).contains(residual) {
            throw fail("bad hasBias/activation/residual attribute")
        }
        let (xi, x) = try input(0)
        let (oi, y) = try output(0)
        let (cin, h, w) = try chw(x, "input")
        let (cout, oh, ow) = try chw(y, "output")
        if cin % groups != 0 || cout % groups != 0 { throw fail("channels not divisible by groups \(groups)") }
        let wt = try weight(0)
        let eh, ew: Int
        if t {
            try expectShape2(wt.shape, [cin, cout / groups, kh, kw], "weight")
            eh = (h - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1
            ew = (w - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1
            if oph >= max(sh, dh) || opw >= max(sw, dw) { throw fail("output padding too large") }
        } else {
            try expectShape2(wt.shape, [cout, cin / groups, kh, kw], "weight")
            eh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1
            ew = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1
            if h + pt + pb - dh * (kh - 1) - 1 < 0 || w + pl + pr - dw * (kw - 1) - 1 < 0 { throw fail("kernel larger than padded input") }
        }
        if oh != eh || ow != ew { throw SegcError(.mismatch, "\(op.kind.name): output is \(oh)x\(ow), attributes give \(eh)x\(ew)") }
        var s = Step(Int32(t ? SEGC_OP_CONVT : SEGC_OP_CONV))
        s.in0 = .value(xi); s.out0 = .value(oi)
        s.w0 = t ? .packed : .weight(wt.offset)
        var k = 1
        if hasBias == 1 {
            let bw = try weight(k); k += 1
            if bw.elementCount != cout { throw SegcError(.mismatch, "\(op.kind.name): bias has \(bw.elementCount) elements for \(cout) channels") }
            s.w1 = .weight(bw.offset)
        }
        var nslope = 0
        if act == 2 {
            let sl = try weight(k); k += 1
            if sl.elementCount != 1 && sl.elementCount != cout { throw SegcError(.mismatch, "\(op.kind.name): slope has \(sl.elementCount) elements") }
            s.w2 = .weight(sl.offset)
            nslope = sl.elementCount
        }
        if op.weights.count != k { throw fail("expected \(k) weights, found \(op.weights.count)") }
        if residual == 1 {
            let (ri, r) = try input(1)
            try expectShape(r, y.shape, "residual")
            if ri == xi { throw unsupported("residual aliases the input") }
            // The epilogues read each residual element where they write y: the same slot or
            // none of it (their loops are vectorised on that assumption).
            if r.arenaOffset != y.arenaOffset && r.overlaps(y) { throw unsupported("residual partly overlaps the output") }
            s.in1 = .value(ri)
        }
        if op.inputs.count != 1 + residual { throw fail("expected \(1 + residual) inputs") }
        if x.overlaps(y) {
            // Convolutions read neighbourhoods of x while writing y: never in place.
            throw unsupported("output overlaps the input")
        }
        var p = segc_conv_params()
        p.cin = Int64(cin); p.h = Int64(h); p.w = Int64(w); p.cout = Int64(cout); p.oh = Int64(oh); p.ow = Int64(ow)
        p.kh = Int64(kh); p.kw = Int64(kw); p.sh = Int64(sh); p.sw = Int64(sw); p.pt = Int64(pt); p.pl = Int64(pl)
        p.dh = Int64(dh); p.dw = Int64(dw); p.groups = Int64(groups); p.act = Int32(act); p.nslope = Int64(nslope)
        p.exact = op.algorithm == .exact ? 1 : 0
        if t {
            if kh > 64 || kw > 64 || sh * sw > 256 { throw unsupported("transposed convolution kernel/stride too large") }
            s.wsPerThread = Int(segc_convt_ws(&p))
        } else {
            s.wsPerThread = Int(segc_conv2d_ws(&p))
            s.wsShared = Int(segc_conv2d_ws_shared(&p))
        }
        s.conv = p
        return s
    }

    func expectShape2(_ got: [Int], _ want: [Int], _ what: String) throws(SegcError) {
        if got != want { throw SegcError(.mismatch, "\(op.kind.name): \(what) has shape \(got), expected \(want)") }
    }

    /// PyTorch output size rule (with the ceil-mode correction).
    static func poolOut(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int, _ ceil: Bool) -> Int {
        let span = n + p0 + p1 - d * (k - 1) - 1
        if span < 0 { return 0 }
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + p0 { o -= 1 }
        return o
    }

    mutating func pool() throws(SegcError) -> Step {
        let a = try ints(12)
        let (kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, ceil, flag) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11])
        if kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 { throw fail("kernel, stride, dilation must be positive") }
        if pt < 0 || pl < 0 || pb < 0 || pr < 0 { throw fail("negative padding") }
        if !(0...1).contains(ceil) || !(0...1).contains(flag) { throw fail("bad ceil/flag attribute") }
        // Max pooling also runs on uint8 (int8 plans); average pooling only on float32.
        let dtype: PlanDType = op.kind == .maxPool2d && op.inputs.first.map({ $0 >= 0 && $0 < values.count && values[$0].dtype == .u8 }) == true ? .u8 : .f32
        let (xi, x) = try input(0, dtype)
        let (oi, y) = try output(0, dtype)
        let (c, h, w) = try chw(x, "input")
        let eh = Self.poolOut(h, kh, sh, pt, pb, dh, ceil == 1), ew = Self.poolOut(w, kw, sw, pl, pr, dw, ceil == 1)
        if eh <= 0 || ew <= 0 { throw fail("empty output") }
        try expectShape(y, [1, c, eh, ew], "output")
        if x.overlaps(y) {
            throw unsupported("output overlaps the input")
        }
        var p = segc_pool_params()
        p.c = Int64(c); p.h = Int64(h); p.w = Int64(w); p.oh = Int64(eh); p.ow = Int64(ew)
        p.kh = Int64(kh); p.kw = Int64(kw); p.sh = Int64(sh); p.sw = Int64(sw); p.pt = Int64(pt); p.pl = Int64(pl)
        p.pb = Int64(pb); p.pr = Int64(pr); p.dh = Int64(dh); p.dw = Int64(dw)
        var s: Step
        if op.kind == .maxPool2d {
            s = Step(Int32(dtype == .u8 ? SEGC_OP_MAXPOOL_U8 : SEGC_OP_MAXPOOL))
            if flag == 1 {
                let (ii, idx) = try output(1, .i64)
                try expectShape(idx, y.shape, "indices")
                s.outIdx = .value(ii)
            } else if op.outputs.count != 1 { throw fail("indices output without returnsIndices") }
        } else {
            s = Step(Int32(SEGC_OP_AVGPOOL))
            p.count_include_pad = Int32(flag)
        }
        s.pool = p
        s.in0 = .value(xi); s.out0 = .value(oi)
        return s
    }

    /// Right-aligns a shape at rank 4.
    func rank4(_ s: [Int]) throws(SegcError) -> [Int64] {
        if s.count > 4 { throw unsupported("rank \(s.count) (at most 4 is executed)") }
        return Array(repeating: 1, count: 4 - s.count) + s.map { Int64($0) }
    }

    mutating func binary() throws(SegcError) -> Step {
        let (ai, a) = try input(0)
        let (oi, y) = try output(0)
        var s = Step(Int32(SEGC_OP_BINARY))
        let bshape: [Int]
        if op.inputs.count == 2 {
            let (bi, b) = try input(1)
            bshape = b.shape
            s.in1 = .value(bi)
        } else if op.inputs.count == 1 {
            let w = try weight(0)
            bshape = w.shape
            s.in1 = .weight(w.offset)
        } else { throw fail("expected 1 or 2 inputs") }
        let ya = try rank4(y.shape), aa = try rank4(a.shape), ba = try rank4(bshape)
        for i in 0..<4 {
            let want = max(aa[i], ba[i])
            if (aa[i] != want && aa[i] != 1) || (ba[i] != want && ba[i] != 1) || ya[i] != want || want <= 0 {
                throw SegcError(.mismatch, "\(op.kind.name): shapes \(a.shape) and \(bshape) do not broadcast to \(y.shape)")
            }
        }
        s.sub = Int32(op.kind == .add ? SEGC_BIN_ADD : op.kind == .sub ? SEGC_BIN_SUB : op.kind == .mul ? SEGC_BIN_MUL : SEGC_BIN_DIV)
        s.d = ya + aa + ba
        s.in0 = .value(ai); s.out0 = .value(oi)
        // In-place is only safe when the output equals an operand that is not broadcast.
        let yo = y.arenaOffset
        if a.arenaOffset == yo && a.shape.reduce(1, *) != y.elementCount { throw unsupported("output aliases a broadcast operand") }
        if case .value(let bi) = s.in1, values[bi].arenaOffset == yo, values[bi].elementCount != y.elementCount {
            throw unsupported("output aliases a broadcast operand")
        }
        return s
    }

    mutating func concat() throws(SegcError) -> [Step] {
        let a = try ints(1)
        guard let o0 = op.outputs.first, o0 >= 0, o0 < values.count else { throw fail("missing output 0") }
        // Concat copies bytes: float32 or uint8 (int8 plans), every input as the output.
        let dtype: PlanDType = values[o0].dtype == .u8 ? .u8 : .f32
        let (oi, y) = try output(0, dtype)
        let r = y.shape.count
        let axis = a[0] < 0 ? a[0] + r : a[0]
        if axis < 0 || axis >= r { throw fail("axis \(a[0]) out of range") }
        if op.inputs.isEmpty { throw fail("no inputs") }
        let outer = y.shape[..<axis].reduce(1, *)
        let dstInner = y.shape[axis...].reduce(1, *)
        var offset = 0, total = 0
        var steps: [Step] = []
        for k in 0..<op.inputs.count {
            let (xi, x) = try input(k, dtype)
            if x.shape.count != r { throw SegcError(.mismatch, "concat: input \(k) has rank \(x.shape.count)") }
            for d in 0..<r where d != axis && x.shape[d] != y.shape[d] {
                throw SegcError(.mismatch, "concat: input \(k) shape \(x.shape) does not match output \(y.shape)")
            }
            total += x.shape[axis]
            let inner = x.shape[axis...].reduce(1, *)
            var s = Step(Int32(dtype == .u8 ? SEGC_OP_COPY_ROWS_U8 : SEGC_OP_COPY_ROWS))
            s.d = [Int64(outer), Int64(inner), Int64(dstInner), Int64(offset)]
            s.in0 = .value(xi); s.out0 = .value(oi)
            // A producer may already have written into the output's slice (same bytes):
            // the kernel skips that copy. Any other overlap is refused.
            let xo = x.arenaOffset, yo = y.arenaOffset
            let inPlace = outer == 1 && xo == yo + offset * dtype.byteSize
            if !inPlace && xo < yo + y.byteCount && yo < xo + x.byteCount { throw unsupported("input \(k) overlaps the output") }
            steps.append(s)
            offset += inner
        }
        if total != y.shape[axis] { throw SegcError(.mismatch, "concat: inputs sum to \(total) along axis \(axis), output has \(y.shape[axis])") }
        return steps
    }

    mutating func pad() throws(SegcError) -> Step {
        let (xi, x) = try input(0)
        let (oi, y) = try output(0)
        let r = x.shape.count
        if r > 4 || r == 0 { throw unsupported("rank \(r)") }
        if op.ints.count != 2 * r { throw fail("expected \(2 * r) pads") }
        if op.floats.count != 1 { throw fail("expected the pad value") }
        var pads = [Int64](repeating: 0, count: 8)
        var want: [Int] = []
        for d in 0..<r {
            let b = op.ints[d], e = op.ints[r + d]
            // Negative pads crop (plan format: outputs stay >= 1, checked below via `want`).
            if b < -Int64(x.shape[d]) || e < -Int64(x.shape[d]) || b > Int64(Int32.max) || e > Int64(Int32.max) {
                throw unsupported("pads \(b), \(e) for a dimension of \(x.shape[d])")
            }
            pads[4 - r + d] = b; pads[8 - r + d] = e
            want.append(x.shape[d] + Int(b) + Int(e))
        }
        try expectShape(y, want, "output")
        if x.elementCount == 0 { throw fail("empty input") }
        if x.overlaps(y) {
            throw unsupported("output overlaps the input")
        }
        var s = Step(Int32(SEGC_OP_PAD))
        s.d = (try rank4(x.shape)) + pads
        s.fval = op.floats[0]
        s.in0 = .value(xi); s.out0 = .value(oi)
        return s
    }
}
