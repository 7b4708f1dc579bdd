import SegcCore
import SegcPlan
import SegcRuntime

/// `segc quantize` as a library call: calibrate, choose grids, lower to int8, and pick
/// the layers that return to fp32 (product.md §3.5).
package struct Quantizer {
    package struct Options: Sendable {
        package var method: CalibrationMethod = .mse
        /// Layer names kept in fp32; `nil` = chosen by sensitivity, `[]` = none.
        package var fp32Layers: [String]? = nil
        package var targetAgreement: Double = 0.98
        /// The target holds on every calibration image (the worst one), not on their mean.
        package var targetEachImage = false
        /// Images used to measure each layer's sensitivity (only when the all-int8 plan
        /// misses the target).
        package var sensitivityImages = 4
        package var threads = 0
        /// Fold the mean error of each int8 conv's output into its bias (`BiasCorrection`).
        package var biasCorrection = true
        /// What bias correction measures (`BiasCorrection.Mode`; `.weights`, the default: the
        /// empirical modes did not improve the study figures, Notes session 9).
        package var biasCorrectionMode: BiasCorrection.Mode = .weights
        /// Histograms from an earlier calibration of the same plan (a `STAT` section): the
        /// grids come from them. With no images (`count` 0) nothing runs: no agreement, no
        /// sensitivity, and `fp32Layers` must be given.
        package var storedHistograms: [Int: Histogram]? = nil
        /// The conv inputs' channel means of that calibration (`StatSection.Stored`): with no
        /// images, bias correction (`.weights`) uses them; empty from an old STAT, then none.
        package var storedChannelMeans: [Int: [Double]] = [:]
        /// Every activation grid's range (but the network input's) widened by this factor
        /// (`QuantParams.widened`): room for content beyond the calibration images, the
        /// anomalies anomaly segmentation looks for (Notes, session 10). 1 = as calibrated.
        package var headroom: Float = 1
        /// Cross-layer channel equalization of the activation ranges before calibration
        /// (`ChannelEqualization`); nil = off. Needs calibration images, not stored histograms.
        package var equalization: ChannelEqualization.Options? = nil
        /// How conv weights are rounded onto their int8 grids (`WeightRounding`); `.gptq`
        /// needs calibration images (one more fp32 run per image).
        package var weightRounding: WeightRounding = .nearest
        package init() {}
    }

    package struct Result {
        package var plan: PlanFile
        package var calibration: Calibration
        package var fp32Layers: [String]
        /// Argmax agreement with the fp32 plan over the calibration images (mean).
        package var calibAgreement: Double
        /// The lowest agreement of one calibration image.
        package var calibAgreementMin: Double = .nan
        /// Index of that image (nil without images): with the per-image target it is the
        /// image that decided how many layers stay fp32.
        package var calibWorstImage: Int? = nil
        /// (layer, agreement when only it is quantized), most sensitive first; empty when
        /// the all-int8 plan met the target (nothing to choose).
        package var sensitivity: [(layer: String, agreement: Double)]
        /// Wall time of the calibration pass alone (images decoded, fp32 runs, histograms).
        package var calibrationSeconds: Double = 0
        /// Channel equalization: its groups and scales (nil when off).
        package var equalization: ChannelEqualization.Report? = nil
        /// Seconds spent on GPTQ (Hessians and rounding; 0 with nearest rounding).
        package var weightRoundingSeconds: Double = 0
        /// The bias correction applied: nil when off or when no channel means were at hand
        /// (stored histograms from a version-1 STAT); without images only `.weights` runs.
        package var biasCorrection: BiasCorrection.Mode? = nil
    }

    /// - Parameters:
    ///   - input: the preprocessed tensor of calibration image `i` (`0..<count`).
    ///   - progress: (stage, done, total).
    package static func quantize(_ source: PlanFile, count: Int, options: Options,
                                 input: @escaping (Int) throws -> [Float],
                                 progress: (String, Int, Int) -> Void = { _, _, _ in }) throws -> Result {
        if source.metadata.precision != "fp32" || source.graph.ops.contains(where: { $0.kind.isRealInt8 || $0.kind == .quantizeDequantize }) {
            throw SegcError(.unsupported, "only fp32 plans can be quantized (this one is \(source.metadata.precision))")
        }
        // Channel equalization rewrites the fp32 weights (same function, same graph) before
        // anything is measured; everything below works on the equalized plan.
        let plan: PlanFile
        var equalization: ChannelEqualization.Report? = nil
        if let eq = options.equalization {
            guard count > 0, options.storedHistograms == nil else {
                throw SegcError(.usage, "channel equalization needs the calibration images (stored histograms describe the unequalized activations)")
            }
            let r = try ChannelEqualization.equalize(source, images: count, options: eq, threads: options.threads, input: input,
                                                     progress: { progress("equalize", $0, $1) })
            plan = r.plan
            equalization = r.report
        } else {
            plan = source
        }
        let layers = Int8Lowering.layers(plan)
        let names = layers.map { Int8Lowering.name(plan, $0) }
        var forced: Set<Int> = []
        if let wanted = options.fp32Layers {
            for n in wanted {
                guard let k = names.firstIndex(of: n) else {
                    throw SegcError(.usage, "--fp32-layers: no conv layer named '\(n)' (see `segc inspect --layers`)")
                }
                forced.insert(layers[k])
            }
        }
        let calStart = ContinuousClock.now
        var cal: Calibration
        if count == 0 {
            guard let stored = options.storedHistograms, options.fp32Layers != nil else {
                throw SegcError(.usage, "without calibration images, give stored histograms and the fp32 layers")
            }
            cal = Calibration(histograms: stored, images: 0, argmax: [])
            cal.channelMeans = options.storedChannelMeans
        } else {
            cal = try Calibration.run(plan: plan, count: count, threads: options.threads, input: input,
                                      progress: { progress("calibrate", $0, $1) })
            if let stored = options.storedHistograms { cal.histograms = stored }
        }
        let calElapsed = ContinuousClock.now - calStart
        let calSeconds = Double(calElapsed.components.seconds) + Double(calElapsed.components.attoseconds) / 1e18
        // GPTQ rounds every conv's weights once, from the fp32 plan's inputs; every candidate
        // of the search below lowers with those weights.
        var rounded: [Int: QuantizedWeights] = [:]
        let roundStart = ContinuousClock.now
        if options.weightRounding == .gptq {
            guard count > 0 else {
                throw SegcError(.usage, "GPTQ weight rounding needs the calibration images (stored histograms carry no Hessians)")
            }
            rounded = try WeightRounding.gptq(plan, convs: layers, images: count, threads: options.threads, input: input,
                                              progress: { progress("gptq", $0, $1) })
        }
        let roundElapsed = ContinuousClock.now - roundStart
        var grids: [Int: QuantParams] = [:]
        for (v, h) in cal.histograms { grids[v] = options.method.params(h).widened(by: options.headroom) }
        // The network input is never clipped: an image scaled to [0, 1] then lands exactly
        // on the uint8 grid (scale 1/255), so the first layer sees the frame unchanged.
        if let h = cal.histograms[plan.graph.input] { grids[plan.graph.input] = CalibrationMethod.minmax.params(h) }

        /// Means of the int8 convs' uint8 inputs (source value → per channel), measured by
        /// empirical bias correction on the plan with the `forced` fp32 layers, then (when the
        /// search keeps more in fp32) on the chosen plan; every candidate is lowered with them.
        var quantizedMeans: [Int: [Double]] = [:]
        let mode = options.biasCorrection && count > 0 && !cal.channelMeans.isEmpty ? options.biasCorrectionMode : .weights
        func lowered(_ fp32: Set<Int>) throws -> PlanFile {
            try lowering(fp32).plan
        }
        func lowering(_ fp32: Set<Int>) throws -> (plan: PlanFile, convInputs: [Int: Int8Lowering.ConvInput]) {
            var (p, inputs) = try Int8Lowering.lowerReporting(plan, grids: grids, fp32Layers: fp32,
                                                              channelMeans: options.biasCorrection ? cal.channelMeans : [:],
                                                              quantizedMeans: quantizedMeans, roundedWeights: rounded)
            p.metadata.precision = fp32.isEmpty ? "int8" : "mixed"
            p.metadata.passes.append("quantize-int8")
            return (p, inputs)
        }
        /// Empirical bias correction of the plan with fp32 layers `fp32` (sets `quantizedMeans`).
        func correct(_ fp32: Set<Int>) throws {
            if mode == .weights { return }
            let inputs = try lowering(fp32).convInputs
            quantizedMeans = try BiasCorrection.measureLocal(plan, convInputs: inputs, images: Array(0..<count),
                                                             threads: options.threads, input: input,
                                                             progress: { progress("bias correction (local)", $0, $1) })
            if mode == .local { return }
            // Sequential: the convs' inputs in graph order, one pass each (the network input's
            // local means are exact); each pass runs the int8 plan corrected so far, up to the
            // input's producer. The images are decoded once when they fit in 1 GiB.
            let inputBytes = plan.graph.values[plan.graph.input].elementCount * 4
            var cache: [Int: [Float]] = [:]
            let cacheable = inputBytes * count <= 1 << 30
            let image: (Int) throws -> [Float] = { i in
                if let x = cache[i] { return x }
                let x = try input(i)
                if cacheable { cache[i] = x }
                return x
            }
            var firstReader: [Int: Int] = [:]
            for (i, op) in plan.graph.ops.enumerated() where inputs[op.inputs[0]] != nil && firstReader[op.inputs[0]] == nil {
                firstReader[op.inputs[0]] = i
            }
            let order = inputs.keys.filter { $0 != plan.graph.input }.sorted { firstReader[$0, default: -1] < firstReader[$1, default: -1] }
            for (k, v) in order.enumerated() {
                let (p, now) = try lowering(fp32)
                let measured = try BiasCorrection.measure(p, convInputs: now.filter { $0.key == v }, images: Array(0..<count),
                                                          threads: options.threads, input: image,
                                                          progress: { progress("bias correction \(k + 1)/\(order.count)", $0, $1) })
                if let m = measured[v] { quantizedMeans[v] = m }
            }
        }
        /// Agreement of `candidate` with the fp32 argmax over the images `which`: the mean,
        /// and the worst image's agreement and index.
        /// With `profile`, also the most codes any image saturated at 255 in each uint8 output
        /// (plan op → count), for the range guard; the session then runs op by op (same bits).
        var saturation: [Int: Int] = [:]
        func agreements(_ candidate: PlanFile, _ which: [Int], stage: String,
                        profile: Bool = false) throws -> (mean: Double, min: Double, worst: Int?) {
            let session = try SegcSession(model: try SegcModel(plan: candidate), threads: options.threads)
            if profile {
                saturation = [:]
                session.byteObserver = { op, bytes in
                    saturation[op] = Swift.max(saturation[op] ?? 0, RangeGuard.saturated(bytes))
                }
            }
            var same = 0.0, low = 1.0, worst: Int? = nil
            for (k, i) in which.enumerated() {
                let x = try input(i)
                let map = try x.withUnsafeBufferPointer { Agreement.argmax(try session.run($0), shape: candidate.graph.values[candidate.graph.output].shape) }
                let f = Agreement.fraction(map, cal.argmax[i])
                same += f
                if worst == nil || f < low { low = f; worst = i }
                progress(stage, k + 1, which.count)
            }
            return which.isEmpty ? (1, 1, nil) : (same / Double(which.count), low, worst)
        }
        /// What the search compares with the target: the mean, or with `targetEachImage` the worst image.
        func criterion(_ a: (mean: Double, min: Double, worst: Int?)) -> Double { options.targetEachImage ? a.min : a.mean }
        func agreement(_ candidate: PlanFile, _ which: [Int], stage: String) throws -> Double {
            criterion(try agreements(candidate, which, stage: stage))
        }
        let all = Array(0..<count)
        var fp32 = forced
        try correct(fp32)
        var candidate = try lowered(fp32)
        var checked = count == 0 ? (mean: Double.nan, min: Double.nan, worst: nil) : try agreements(candidate, all, stage: "check", profile: true)
        let reached = criterion(checked)
        var sensitivity: [(layer: String, agreement: Double)] = []
        if options.fp32Layers == nil && reached < options.targetAgreement {
            // Sensitivity: each layer quantized alone, on a few evenly spaced images. Ranked by
            // the mean over them even with `targetEachImage` (which stops on the worst image):
            // one image's ranking is noise for the layers near the cut (MiDE-Net: ranks 9–12
            // within 0.03 points on the worst of 4; ranked by the worst its search kept 11 convs
            // and reached 97.81 % on its worst Cityscapes frame, ranked by the mean 98.12 %).
            let s = Swift.min(options.sensitivityImages, count)
            let subset = (0..<s).map { $0 * count / s }
            for (k, l) in layers.enumerated() {
                let alone = try lowered(Set(layers).subtracting([l]))
                sensitivity.append((names[k], try agreements(alone, subset, stage: "sensitivity \(k + 1)/\(layers.count)").mean))
            }
            sensitivity.sort { $0.agreement < $1.agreement }
            // Return the k most sensitive layers to fp32 for the smallest k whose plan meets
            // the target on the loop's subset (up to 16 images): k = 1, 2, 4, … until it
            // holds, then bisection (agreement grows with k, nearly monotonically), so a
            // network needing many fp32 layers costs O(log L) trial plans, not L.
            // With `targetEachImage` every image takes part: the worst one may be any of them.
            let loopCount = options.targetEachImage ? count : Swift.min(16, count)
            let loopImages = (0..<loopCount).map { $0 * count / loopCount }
            let order = sensitivity.map { layers[names.firstIndex(of: $0.layer)!] }
            var plans: [Int: (PlanFile, Double)] = [:]
            func trial(_ k: Int) throws -> (PlanFile, Double) {
                if let t = plans[k] { return t }
                let p = try lowered(forced.union(order.prefix(k)))
                let t = (p, try agreement(p, loopImages, stage: "mixed \(k) fp32"))
                plans[k] = t
                return t
            }
            var hi = 1
            while hi < order.count, try trial(hi).1 < options.targetAgreement { hi *= 2 }
            hi = Swift.min(hi, order.count)
            var lo = hi / 2   // trial(lo) missed the target (or lo = 0: the all-int8 plan did)
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if try trial(mid).1 >= options.targetAgreement { hi = mid } else { lo = mid }
            }
            candidate = try trial(hi).0
            fp32 = forced.union(order.prefix(hi))
            if mode != .weights {
                // The fp32 layers change the error the int8 convs after them see: measure again.
                try correct(fp32)
                candidate = try lowered(fp32)
            }
            checked = try agreements(candidate, all, stage: "check", profile: true)
        }
        // Without images (stored histograms) there is nothing to measure the guard on.
        candidate.metadata.rangeGuard = count == 0 ? [] : RangeGuard.limits(saturation, plan: candidate)
        let kept = layers.filter { fp32.contains($0) }.map { Int8Lowering.name(plan, $0) }
        return Result(plan: candidate, calibration: cal, fp32Layers: kept, calibAgreement: checked.mean,
                      calibAgreementMin: checked.min, calibWorstImage: checked.worst, sensitivity: sensitivity,
                      calibrationSeconds: calSeconds,
                      equalization: equalization,
                      weightRoundingSeconds: Double(roundElapsed.components.seconds) + Double(roundElapsed.components.attoseconds) / 1e18,
                      biasCorrection: options.biasCorrection && !cal.channelMeans.isEmpty ? mode : nil)
    }
}
