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
        guard let t = ConvTailFusion.Tail.match(i, conv: .qconv2d, g, prepared, uses, outputs) else { return nil }
        var conv = prepared[i].steps[0]
        guard conv.ckind == Int32(SEGC_OP_QCONV), conv.sub == 0, conv.qconv.out_f32 == 1,
              t.slopesFit(cout: conv.qconv.cout) else { return nil }
        let vx = g.values[t.x], vc = g.values[t.c], vr = g.values[t.r], vo = g.values[t.o]
        // Tasks write o (and q) while others still read x, c and r: o may be c or r exactly
        // (each element is read before it is written, by the task that writes it) but no
        // other overlap; c and r are both read by the tail, so they must be apart.
        guard !vo.overlaps(vx), !vc.overlaps(vr), !vo.overlapsShifted(vc), !vo.overlapsShifted(vr) else { return nil }
        t.apply(to: &conv)
        conv.tailOut = .value(t.o)
        conv.tailConvFirst = t.convFirst ? 1 : 0
        // The quantize of the result for the next int8 conv, when it comes right after.
        if i + 3 < prepared.count, prepared[i + 3].kind == .quantize, prepared[i + 3].steps.count == 1 {
            let qs = prepared[i + 3].steps[0]
            if qs.ckind == Int32(SEGC_OP_QUANTIZE), case .value(let qin) = qs.in0, qin == t.o, case .value(let q) = qs.out0,
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
