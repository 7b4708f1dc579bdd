import SegcCore
import SegcPlan
import SegcRuntime

/// Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight
/// Equalization and Bias Correction", §4.2 — the empirical variant; AIMET / NNCF "bias
/// correction").
///
/// A convolution is linear before its activation, so the mean of its output channel `co`
/// over the pixels (and the calibration images) is Σ W[co, ci, tap] · mean(x[ci]) + b[co],
/// borders aside. The fp32 network computes it with the fp32 weights on its fp32 input; the
/// int8 plan with the rounded weights Ŵ on its uint8 input x̂, which differs from x by the
/// rounding and clipping of its own grid and by every error upstream. The difference of the
/// two means,
///
///     Δb[co] = Σ W[co, ci, tap] · mean(x[ci]) − Σ Ŵ[co, ci, tap] · mean(x̂[ci]),
///
/// added to the bias (before it is rounded to int32), makes the int8 conv's output mean equal
/// the fp32 one on the calibration images. mean(x) comes from the calibration pass
/// (`Calibration.channelMeans`); mean(x̂) from running a lowered int8 plan on the same images
/// and reading each int8 conv's uint8 input (`measure`, through `SegcSession.byteObserver`).
/// Without mean(x̂) (`quantizedInputMeans` nil) it is taken equal to mean(x): only the
/// rounded weights' error is corrected (the analytic correction segc made before session 9).
///
/// The correction of a conv changes the inputs of the convs after it, so measuring every
/// conv's mean(x̂) on one plan and correcting them all at once counts the upstream error
/// twice (once where it arises, once downstream): measured again and again this diverges
/// (MiDE-Net all-int8 calibration agreement 97.40 → 96.45 → 90.73 → 76.04 %). `.sequential`
/// measures one conv input per pass, on the plan with every conv before it corrected.
package enum BiasCorrection {
    /// What mean(x̂) is.
    package enum Mode: String, Sendable, CaseIterable {
        /// mean(x): the rounded weights' error only (no extra runs).
        case weights
        /// The fp32 input rounded onto the conv's input grid (`measureLocal`): each conv
        /// corrects its weights' and its input grid's error, nothing upstream (one fp32 run
        /// per image).
        case local
        /// Layer by layer in graph order (`measure`, once per int8 conv input): each conv is
        /// corrected given the corrected convs before it (one int8 run per image and conv).
        case sequential
    }

    /// Δb (one entry per output channel) for a conv or transposed conv.
    /// - Parameters:
    ///   - w: fp32 weights in the plan's layout (conv `[cout, cin/g, kh, kw]`, transposed
    ///     conv `[cin, cout/g, kh, kw]`); `quantized`: their int8 values and per-channel scales.
    ///   - inputMeans: per-channel means of the fp32 input (cin entries).
    ///   - quantizedInputMeans: per-channel means of the dequantized uint8 input in the int8
    ///     plan; nil = `inputMeans` (weight rounding only).
    ///   - inputPixels, outputPixels: H·W of input and output. A conv's output pixel sees
    ///     every tap once; a transposed conv's input pixel writes every tap once, so its
    ///     output mean carries the factor inputPixels / outputPixels (1/stride²).
    package static func delta(_ w: [Float], shape: [Int], transposed t: Bool, groups g: Int,
                              quantized qw: QuantizedWeights, inputMeans mean: [Double],
                              quantizedInputMeans qmean: [Double]?,
                              inputPixels: Int, outputPixels: Int) -> [Double] {
        let cout = qw.scales.count, cin = mean.count, k = shape[2] * shape[3]
        let qm = (qmean?.count == cin ? qmean : nil) ?? mean
        var delta = [Double](repeating: 0, count: cout)
        for i in w.indices {
            let co: Int, ci: Int
            if t {
                let coutG = shape[1]
                ci = i / (coutG * k)
                co = (ci / (cin / g)) * coutG + (i / k) % coutG
            } else {
                let cinG = shape[1]
                co = i / (cinG * k)
                ci = (co / (cout / g)) * cinG + (i / k) % cinG
            }
            // (W − Ŵ)·mean(x) + Ŵ·(mean(x) − mean(x̂)): the first term alone when mean(x̂) = mean(x).
            let wq = Double(qw.values[i]) * Double(qw.scales[co])
            delta[co] += (Double(w[i]) - wq) * mean[ci]
            if qm[ci] != mean[ci] { delta[co] += wq * (mean[ci] - qm[ci]) }
        }
        if t && outputPixels > 0 {
            let f = Double(inputPixels) / Double(outputPixels)
            for c in delta.indices { delta[c] *= f }
        }
        return delta
    }

    /// Runs the fp32 `plan` (the source of the lowering) on the images and returns, for each
    /// source value an int8 conv reads, the per-channel means of that value rounded onto the
    /// conv's input grid (clipped to it and dequantized) — what the conv's uint8 input would
    /// hold if everything before it were exact. With these means each conv corrects its own
    /// error (weights and input grid) and nothing upstream; one fp32 run per image.
    package static func measureLocal(_ plan: PlanFile, convInputs: [Int: Int8Lowering.ConvInput], images: [Int],
                                     threads: Int, input: (Int) throws -> [Float],
                                     progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: [Double]] {
        let g = plan.graph
        var sums: [Int: [Double]] = [:]
        func accumulate(_ v: Int, _ b: UnsafeBufferPointer<Float>) {
            guard let ci = convInputs[v] else { return }
            let shape = g.values[v].shape
            guard shape.count == 4, shape[0] == 1, b.count == shape[1] * shape[2] * shape[3] else { return }
            let c = shape[1], hw = shape[2] * shape[3]
            let inv = 1 / ci.grid.scale, zp = Float(ci.grid.zeroPoint)
            var s = sums[v] ?? [Double](repeating: 0, count: c)
            for k in 0..<c {
                // Sum of the uint8 codes: small integers, exact in Float up to 2^24 per partial.
                var acc: Float = 0, total = 0.0
                for (j, x) in b[(k * hw)..<((k + 1) * hw)].enumerated() {
                    acc += Swift.min(Swift.max((x * inv).rounded(.toNearestOrEven) + zp, 0), 255)
                    if j & 4095 == 4095 { total += Double(acc); acc = 0 }
                }
                s[k] += total + Double(acc)
            }
            sums[v] = s
        }
        let session = try SegcSession(model: try SegcModel(plan: plan), threads: threads)
        session.observer = { op, b in accumulate(g.ops[op].outputs[0], b) }
        for (k, i) in images.enumerated() {
            let x = try input(i)
            try x.withUnsafeBufferPointer { buf in
                accumulate(g.input, buf)
                _ = try session.run(buf)
            }
            progress(k + 1, images.count)
        }
        session.observer = nil
        var means: [Int: [Double]] = [:]
        for (v, s) in sums { means[v] = dequantizedMeans(s, of: g.values[v].shape, grid: convInputs[v]!.grid, images: images.count) }
        return means
    }

    /// Per-channel means of uint8 codes, dequantized: (Σq / (images·H·W) − zero point) · scale.
    private static func dequantizedMeans(_ sums: [Double], of shape: [Int], grid: QuantParams, images: Int) -> [Double] {
        let n = Double(images * shape[2] * shape[3])
        let zp = Double(grid.zeroPoint), scale = Double(grid.scale)
        return sums.map { ($0 / n - zp) * scale }
    }

    /// Runs the lowered plan on the images and returns, for each source value an int8 conv
    /// reads (`convInputs`, from `Int8Lowering.lowerReporting`), the per-channel means of
    /// that uint8 input, dequantized: (mean(q) − zero point) · scale.
    package static func measure(_ plan: PlanFile, convInputs: [Int: Int8Lowering.ConvInput], images: [Int],
                                threads: Int, input: (Int) throws -> [Float],
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: [Double]] {
        let g = plan.graph
        var producer = [Int](repeating: -1, count: g.values.count)
        for (i, op) in g.ops.enumerated() { producer[op.outputs[0]] = i }
        // Lowered value → the source values read through it (several when a ReLU is applied
        // by its producer: both names share one uint8 value).
        var watched: [Int: Int] = [:]   // op index → lowered value
        for ci in convInputs.values where producer[ci.value] >= 0 { watched[producer[ci.value]] = ci.value }
        var sums: [Int: [Int64]] = [:]  // lowered value → per-channel sums of q
        let session = try SegcSession(model: try SegcModel(plan: plan), threads: threads)
        session.stopAfter = watched.keys.max()
        session.byteObserver = { op, bytes in
            guard let v = watched[op] else { return }
            let shape = g.values[v].shape
            guard shape.count == 4, shape[0] == 1 else { return }
            let c = shape[1], hw = shape[2] * shape[3]
            var s = sums[v] ?? [Int64](repeating: 0, count: c)
            for k in 0..<c {
                var acc: Int64 = 0
                for x in bytes[(k * hw)..<((k + 1) * hw)] { acc &+= Int64(x) }
                s[k] += acc
            }
            sums[v] = s
        }
        for (k, i) in images.enumerated() {
            let x = try input(i)
            _ = try x.withUnsafeBufferPointer { try session.run($0) }
            progress(k + 1, images.count)
        }
        session.byteObserver = nil
        var means: [Int: [Double]] = [:]
        for (source, ci) in convInputs {
            guard let s = sums[ci.value] else { continue }
            means[source] = dequantizedMeans(s.map(Double.init), of: g.values[ci.value].shape, grid: ci.grid, images: images.count)
        }
        return means
    }
}
