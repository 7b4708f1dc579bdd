import CSegcKernels
import SegcPlan

/// `qconv2d → add(·, r) → relu/prelu [→ quantize]` run as one int8 conv step with a float
/// tail (`segc_qconv2d_tail`): in an int8 plan ENet's bottlenecks end with an int8 conv
/// with float output and its own PReLU, then the float main branch is added, another
/// activation follows, and the result is quantized again for the next int8 conv. Unfused,
/// those three passes over the tensor were a third of ENet's int8 time; fused, each conv
/// task applies them to the outputs it has just written (same arithmetic, same bits).
///
/// Like `ConvTailFusion`, a schedule of the session, not a change of the plan: a session
/// with an observer runs the ops one by one (the add's output is never written when fused).
enum QConvTailFusion {
    static func fuse(_ i: Int, _ g: PlanGraph, _ prepared: [PreparedOp], _ uses: [Int],
                     _ outputs: Set<Int>) -> Step? {
        let convOp = prepared[i], addOp = prepared[i + 1], actOp = prepared[i + 2]
        guard convOp.kind == .qconv2d, convOp.steps.count == 1, addOp.kind == .add, addOp.steps.count == 1,
              actOp.kind == .relu || actOp.kind == .prelu, actOp.steps.count == 1 else { return nil }
        var conv = convOp.steps[0]
        let add = addOp.steps[0], act = actOp.steps[0]
        guard conv.ckind == Int32(SEGC_OP_QCONV), conv.sub == 0, conv.qconv.out_f32 == 1, case .none = conv.in1,
              case .value(let x) = conv.in0, case .value(let c) = conv.out0, add.sub == Int32(SEGC_BIN_ADD),
              case .value(let a) = add.in0, case .value(let b) = add.in1, case .value(let s) = add.out0,
              case .value(let actIn) = act.in0, case .value(let o) = act.out0, actIn == s,
              a == c || b == c, a != b else { return nil }
        let r = a == c ? b : a
        let vx = g.values[x], vc = g.values[c], vr = g.values[r], vs = g.values[s], vo = g.values[o]
        // No broadcast, float32 throughout; the intermediates read once and not graph outputs.
        guard vc.shape == vr.shape, vc.shape == vs.shape, vc.shape == vo.shape,
              [vc, vr, vs, vo].allSatisfy({ $0.dtype == .f32 }),
              uses[c] == 1, uses[s] == 1, !outputs.contains(c), !outputs.contains(s) else { return nil }
        // Tasks write o (and q) while others still read x, c and r: o may be c or r exactly
        // (each element is read before it is written, by the task that writes it) but no
        // other overlap; c and r are both read by the tail, so they must be apart.
        func apartOrSame(_ u: PlanValue, _ v: PlanValue) -> Bool {
            !u.overlaps(v) || (u.arenaOffset == v.arenaOffset && u.byteCount == v.byteCount)
        }
        guard !vo.overlaps(vx), !vc.overlaps(vr), apartOrSame(vo, vc), apartOrSame(vo, vr) else { return nil }
        conv.tailRes = .value(r)
        conv.tailOut = .value(o)
        conv.tailConvFirst = a == c ? 1 : 0
        if actOp.kind == .prelu {
            conv.tailAct = Int32(SEGC_ACT_PRELU)
            conv.tailSlope = act.w0
            conv.tailNSlope = act.d.count > 2 ? act.d[2] : 0
            guard conv.tailNSlope == 1 || conv.tailNSlope == conv.qconv.cout else { return nil }
        } else {
            conv.tailAct = Int32(SEGC_ACT_RELU)
        }
        conv.span = 3
        // The quantize of the result for the next int8 conv, when it comes right after.
        if i + 3 < prepared.count, prepared[i + 3].kind == .quantize, prepared[i + 3].steps.count == 1 {
            let qs = prepared[i + 3].steps[0]
            if qs.ckind == Int32(SEGC_OP_QUANTIZE), case .value(let qin) = qs.in0, qin == o, case .value(let q) = qs.out0,
               qs.d.count > 1, [vx, vc, vr, vo].allSatisfy({ !g.values[q].overlaps($0) }) {
                conv.tailQ = .value(q)
                conv.tailQScale = qs.fval
                conv.tailQZeroPoint = Int32(qs.d[1])
                conv.span = 4
            }
        }
        return conv
    }
}
