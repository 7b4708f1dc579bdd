import CSegcKernels
import SegcPlan

/// `conv → add(·, r) → relu/prelu` run as one conv step with a tail (`segc_conv2d_tail`):
/// ENet's bottlenecks end with a conv that has its own PReLU, then the main branch is
/// added and another activation follows, which neither `fuse-residual-add` nor
/// `fuse-activation` can fold (the residual would come after the conv's activation).
/// Unfused, the add reads two tensors and writes one and the activation reads and writes
/// one more: about a fifth of ENet's time. Fused, the tail runs on the conv's tile while
/// it is in cache, with the separate ops' arithmetic (same bits).
///
/// This is a schedule of the session, not a change of the plan: the plan keeps the three
/// ops (the reference interpreter, lifting and the int8 pass see them as before), and a
/// session with an observer runs them one by one, since the conv's and the add's outputs
/// are never written when fused.
enum ConvTailFusion {
    /// The fused conv step for each conv op index that starts a fusable triple (the `span − 1`
    /// ops after it are then skipped); int8 convs: `QConvTailFusion`.
    static func fusedSteps(plan: PlanFile, prepared: [PreparedOp]) -> [Int: Step] {
        let g = plan.graph
        var uses = [Int](repeating: 0, count: g.values.count)
        for op in g.ops { for v in op.inputs where v >= 0 && v < uses.count { uses[v] += 1 } }
        let outputs = Set([g.output] + plan.metadata.extraOutputs.map(\.value))
        var fused: [Int: Step] = [:]
        var i = 0
        while i + 2 < prepared.count {
            if let step = fuse(i, g, prepared, uses, outputs) ?? QConvTailFusion.fuse(i, g, prepared, uses, outputs) {
                fused[i] = step
                i += step.span
            } else {
                i += 1
            }
        }
        return fused
    }

    /// The `add(c, r) → relu/prelu` after plan op i, a conv of `kind` whose one step reads x
    /// and writes c, when it can run as that conv's tail: no broadcast, float32 throughout,
    /// c and the add's output read once and not graph outputs. Both the fp32 fusion (below)
    /// and the int8 one (`QConvTailFusion`) start from it; each then checks its kernel.
    struct Tail {
        var x, c, r, o: Int
        /// c is the add's first operand.
        var convFirst: Bool
        var act: Int32
        var slope: Binding
        var nslope: Int64

        static func match(_ i: Int, conv kind: PlanOpKind, _ g: PlanGraph, _ prepared: [PreparedOp], _ uses: [Int],
                          _ outputs: Set<Int>) -> Tail? {
            let convOp = prepared[i], addOp = prepared[i + 1], actOp = prepared[i + 2]
            guard convOp.kind == kind, convOp.steps.count == 1, addOp.kind == .add, addOp.steps.count == 1,
                  actOp.kind == .relu || actOp.kind == .prelu, actOp.steps.count == 1 else { return nil }
            let conv = convOp.steps[0], add = addOp.steps[0], act = actOp.steps[0]
            guard case .none = conv.in1, case .value(let x) = conv.in0, case .value(let c) = conv.out0,
                  add.sub == Int32(SEGC_BIN_ADD), case .value(let a) = add.in0, case .value(let b) = add.in1,
                  case .value(let s) = add.out0, case .value(let actIn) = act.in0, case .value(let o) = act.out0,
                  actIn == s, a == c || b == c, a != b else { return nil }
            let r = a == c ? b : a
            let vc = g.values[c], vr = g.values[r], vs = g.values[s], vo = g.values[o]
            guard vc.shape == vr.shape, vc.shape == vs.shape, vc.shape == vo.shape,
                  [vc, vr, vs, vo].allSatisfy({ $0.dtype == .f32 }),
                  uses[c] == 1, uses[s] == 1, !outputs.contains(c), !outputs.contains(s) else { return nil }
            let prelu = actOp.kind == .prelu
            return Tail(x: x, c: c, r: r, o: o, convFirst: a == c, act: Int32(prelu ? SEGC_ACT_PRELU : SEGC_ACT_RELU),
                        slope: prelu ? act.w0 : .none, nslope: prelu ? (act.d.count > 2 ? act.d[2] : 0) : 0)
        }

        /// A PReLU's slopes are one or one per output channel.
        func slopesFit(cout: Int64) -> Bool { act != Int32(SEGC_ACT_PRELU) || nslope == 1 || nslope == cout }

        /// The conv step with this tail (the add's other operand, the activation), standing for 3 plan ops.
        func apply(to step: inout Step) {
            step.tailRes = .value(r)
            step.tailAct = act
            step.tailSlope = slope
            step.tailNSlope = nslope
            step.span = 3
        }
    }

    private static func fuse(_ i: Int, _ g: PlanGraph, _ prepared: [PreparedOp], _ uses: [Int],
                             _ outputs: Set<Int>) -> Step? {
        guard let t = Tail.match(i, conv: .conv2d, g, prepared, uses, outputs) else { return nil }
        var conv = prepared[i].steps[0]
        guard conv.ckind == Int32(SEGC_OP_CONV) else { return nil }
        let vo = g.values[t.o], vr = g.values[t.r]
        // The conv reads neighbourhoods of x while writing o; the tail reads r[k] just
        // before writing o[k], so o may be r itself but not a shifted overlap of it.
        if vo.overlaps(g.values[t.x]) { return nil }
        if vo.overlapsShifted(vr) { return nil }
        var p = conv.conv
        guard segc_conv2d_tail_supported(&p) == 1, t.slopesFit(cout: p.cout) else { return nil }
        conv.out0 = .value(t.o)
        t.apply(to: &conv)
        conv.wsPerThread = Int(segc_conv2d_tail_ws(&p))
        return conv
    }
}
