import SegcPlan

/// How conv weights are rounded onto their int8 grids (`segc quantize --weight-rounding`).
/// The grids are the same either way (symmetric per output channel, max|w| / 127); only
/// which grid point each weight takes differs.
package enum WeightRounding: String, Sendable, CaseIterable {
    /// Each weight to its nearest grid point (`QuantizedWeights`).
    case nearest
    /// GPTQ (`GPTQ.round`): columns in order, each one's rounding error spread over the
    /// rest of its row through the inverse Hessian of the conv's fp32 inputs on the
    /// calibration images (`ConvHessian`). Transposed convs keep nearest rounding (their
    /// output pixels see different subsets of the taps; not needed by the networks measured).
    case gptq

    /// GPTQ-rounded weights of the conv2d ops `convs` of `plan` (op index → weights, for
    /// `Int8Lowering`): one more fp32 run per calibration image.
    package static func gptq(_ plan: PlanFile, convs: [Int], images: Int, threads: Int,
                             input: (Int) throws -> [Float],
                             progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: QuantizedWeights] {
        let hessians = try ConvHessian.collect(plan, convs: convs, images: images, threads: threads, input: input, progress: progress)
        let source = PlanWeightBuilder(source: plan.weights)
        var out: [Int: QuantizedWeights] = [:]
        for (i, hs) in hessians {
            let wref = plan.graph.ops[i].weights[0]
            let w = source.floats(wref)
            let nearest = QuantizedWeights.conv(w, shape: wref.shape)
            // Output channel co is a row of cin/groups · kh · kw weights, in the order of
            // ConvHessian's columns; rows of group g share H[g].
            let cout = wref.shape[0], k = w.count / cout, perGroup = cout / hs.count
            var values = nearest.values
            for (grp, h) in hs.enumerated() {
                let r0 = grp * perGroup
                let rows = Array(w[(r0 * k)..<((r0 + perGroup) * k)])
                guard let q = GPTQ.round(rows, rows: perGroup, columns: k, scales: Array(nearest.scales[r0..<(r0 + perGroup)]),
                                         hessian: h) else { continue }
                values.replaceSubrange((r0 * k)..<((r0 + perGroup) * k), with: q)
            }
            out[i] = QuantizedWeights(values: values, scales: nearest.scales)
        }
        return out
    }
}
