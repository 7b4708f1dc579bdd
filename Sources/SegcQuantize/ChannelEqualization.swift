import Foundation
import SegcCore
import SegcPlan
import SegcRuntime

/// Cross-layer channel equalization of activation ranges (Nagel et al. 2019, "Data-Free
/// Quantization Through Weight Equalization and Bias Correction", §4.1; the activation-range
/// form of SmoothQuant, Xiao et al. 2023), applied to the fp32 plan before it is calibrated.
///
/// Where a conv P (no residual; activation none, ReLU or PReLU — all positively homogeneous:
/// f(x / s) = f(x) / s for s > 0), optionally followed by a max pool, feeds a value that only
/// one conv C reads as its input, P's output channel c can be divided by s_c > 0
/// (W_P[c], b_P[c] /= s_c) and C's input channel c multiplied by it (W_C[:, c] *= s_c)
/// without changing what the network computes. The intermediate value is quantized with
/// one uint8 grid per tensor, so a channel whose range is much smaller than the tensor's
/// widest gets only a few of the 256 levels; choosing
///
///     s_c = a_c^α / w_c^(1−α)
///
/// (a_c: the channel's largest |value| over the calibration images; w_c: the largest
/// |W_C[o, c, ·]| relative to output row o's largest weight, the quantity that decides C's
/// per-output-channel int8 grid) evens the channels' ranges (α = 1: every channel spans the
/// whole grid) at the price of C's weights (a channel scaled up is rounded coarser relative
/// to its row). The scales are normalized so the tensor's widest range is unchanged and
/// clamped to [1 / clamp, clamp]. P's weights are per output channel: dividing a row by s_c
/// leaves its int8 values unchanged.
package enum ChannelEqualization {
    package struct Options: Sendable, Equatable {
        /// Weight of the activation range in s_c = a_c^α / w_c^(1−α).
        package var alpha: Double = 0.5
        /// No channel is scaled by more than `clamp` or less than 1 / `clamp`.
        package var clamp: Double = 16
        package init(alpha: Double = 0.5, clamp: Double = 16) { self.alpha = alpha; self.clamp = clamp }
    }

    /// One producer → consumer pair: P's output (through at most one max pool) is C's input.
    package struct Pair: Sendable, Equatable {
        /// Op indices of P and C.
        package var producer: Int
        package var consumer: Int
        /// P's output value (what the channel ranges are measured on).
        package var value: Int
    }

    /// The pairs of `plan` that can be equalized (see the type's comment), in graph order.
    package static func pairs(_ plan: PlanFile) -> [Pair] {
        let g = plan.graph
        var consumers = [[Int]](repeating: [], count: g.values.count)
        for (i, op) in g.ops.enumerated() { for v in op.inputs { consumers[v].append(i) } }
        var outputs: Set<Int> = [g.output]
        for e in plan.metadata.extraOutputs { outputs.insert(e.value) }
        // Weight tensors referenced by more than one op (or twice by one) are left alone.
        var uses: [Int: Int] = [:]
        for op in g.ops { for w in op.weights { uses[w.offset, default: 0] += 1 } }
        func owned(_ w: WeightRef) -> Bool { w.dtype == .f32 && uses[w.offset] == 1 }

        var found: [Pair] = []
        for (p, op) in g.ops.enumerated() where op.kind == .conv2d {
            typealias S = PlanOpSchema.Conv
            guard op.ints.count > S.residual, op.ints[S.residual] == 0, op.inputs.count == 1,
                  [PlanOpSchema.Activation.none, PlanOpSchema.Activation.relu, PlanOpSchema.Activation.prelu].contains(op.ints[S.activation]),
                  op.outputs.count == 1, owned(op.weights[0]), op.ints[S.hasBias] == 0 || owned(op.weights[1]) else { continue }
            let y = op.outputs[0]
            let shape = g.values[y].shape
            guard shape.count == 4, shape[0] == 1, g.values[y].dtype == .f32, !outputs.contains(y), consumers[y].count == 1 else { continue }
            var c = consumers[y][0]
            var read = y
            if g.ops[c].kind == .maxPool2d {
                let pool = g.ops[c]
                guard pool.outputs.count == 1, !outputs.contains(pool.outputs[0]), consumers[pool.outputs[0]].count == 1 else { continue }
                read = pool.outputs[0]
                c = consumers[read][0]
            }
            let cop = g.ops[c]
            guard [.conv2d, .convTranspose2d].contains(cop.kind), cop.inputs[0] == read, !cop.inputs.dropFirst().contains(read),
                  owned(cop.weights[0]) else { continue }
            let cin = cop.kind == .conv2d ? cop.weights[0].shape[1] * Int(cop.ints[PlanOpSchema.Conv.groups]) : cop.weights[0].shape[0]
            guard cin == shape[1], op.weights[0].shape[0] == shape[1] else { continue }
            found.append(Pair(producer: p, consumer: c, value: y))
        }
        return found
    }

    /// Largest |value| of each channel of `values` over the images (one fp32 run per image;
    /// nothing of the activations is kept).
    package static func channelMaxima(_ plan: PlanFile, values: Set<Int>, images: Int, threads: Int,
                                      input: (Int) throws -> [Float],
                                      progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: [Float]] {
        let g = plan.graph
        let session = try SegcSession(model: try SegcModel(plan: plan), threads: threads)
        var maxima: [Int: [Float]] = [:]
        session.observer = { i, b in
            let v = g.ops[i].outputs[0]
            guard values.contains(v) else { return }
            let s = g.values[v].shape, c = s[1], hw = s[2] * s[3]
            guard b.count == c * hw else { return }
            var m = maxima[v] ?? [Float](repeating: 0, count: c)
            for k in 0..<c {
                var mx: Float = m[k]
                for x in b[(k * hw)..<((k + 1) * hw)] { mx = Swift.max(mx, abs(x)) }
                m[k] = mx
            }
            maxima[v] = m
        }
        for k in 0..<images {
            let x = try input(k)
            _ = try session.run(x)
            progress(k + 1, images)
        }
        session.observer = nil
        return maxima
    }

    /// Per input channel c of C's weights, max over output rows o of |W[o, c, ·]| / max |W[o, ·, ·]|.
    static func relativeInputRanges(_ w: [Float], shape: [Int], transposed: Bool, groups: Int) -> [Float] {
        let k = shape[2] * shape[3]
        if transposed {
            // [cin, cout/g, kh, kw]: output channel o = group · (cout/g) + j.
            let cin = shape[0], coutG = shape[1], cinG = cin / groups
            var rowMax = [Float](repeating: 0, count: coutG * groups)
            for i in w.indices {
                let ci = i / (coutG * k), o = (ci / cinG) * coutG + (i / k) % coutG
                rowMax[o] = Swift.max(rowMax[o], abs(w[i]))
            }
            var r = [Float](repeating: 0, count: cin)
            for i in w.indices {
                let ci = i / (coutG * k), o = (ci / cinG) * coutG + (i / k) % coutG
                if rowMax[o] > 0 { r[ci] = Swift.max(r[ci], abs(w[i]) / rowMax[o]) }
            }
            return r
        }
        let cout = shape[0], cinG = shape[1], coutG = cout / groups
        var rowMax = [Float](repeating: 0, count: cout)
        for i in w.indices { rowMax[i / (cinG * k)] = Swift.max(rowMax[i / (cinG * k)], abs(w[i])) }
        var r = [Float](repeating: 0, count: cinG * groups)
        for i in w.indices {
            let o = i / (cinG * k), ci = (o / coutG) * cinG + (i / k) % cinG
            if rowMax[o] > 0 { r[ci] = Swift.max(r[ci], abs(w[i]) / rowMax[o]) }
        }
        return r
    }

    /// s_c from the channel ranges `a` and C's relative input ranges `w` (see the type's comment).
    package static func scales(ranges a: [Float], weightRanges w: [Float], options: Options) -> [Float] {
        let alpha = options.alpha, clamp = Swift.max(1, options.clamp)
        let top = Double(a.max() ?? 0)
        guard top > 0 else { return [Float](repeating: 1, count: a.count) }
        var s = [Double](repeating: 1, count: a.count)
        for c in a.indices where a[c] > 0 {
            // A channel C does not read (w = 0) only needs to stay out of the grid's way.
            let wc = Swift.max(Double(w[c]), 1e-6)
            s[c] = pow(Double(a[c]) / top, alpha) / pow(wc, 1 - alpha)
        }
        // Normalize: the widest range after scaling, max a_c / s_c, equals the widest before.
        var widest = 0.0
        for c in a.indices where a[c] > 0 { widest = Swift.max(widest, Double(a[c]) / s[c]) }
        let k = widest / top
        return a.indices.map { c in
            guard a[c] > 0 else { return 1 }
            return Float(Swift.min(clamp, Swift.max(1 / clamp, s[c] * k)))
        }
    }

    /// `plan` with each pair's channels rescaled by `scales[pair.value]` (an fp32 plan
    /// computing the same function; only weight bytes change).
    package static func apply(_ plan: PlanFile, pairs: [Pair], scales: [Int: [Float]]) -> PlanFile {
        var bytes = plan.weights.withBytes { Array($0) }
        func scale(_ ref: WeightRef, _ f: (Int) -> Float) {
            bytes.withUnsafeMutableBytes { raw in
                for i in 0..<ref.elementCount {
                    let at = ref.offset + 4 * i
                    raw.storeBytes(of: raw.load(fromByteOffset: at, as: Float.self) * f(i), toByteOffset: at, as: Float.self)
                }
            }
        }
        let g = plan.graph
        for pair in pairs {
            guard let s = scales[pair.value] else { continue }
            let p = g.ops[pair.producer], c = g.ops[pair.consumer]
            let w1 = p.weights[0], per = w1.shape[1] * w1.shape[2] * w1.shape[3]
            scale(w1) { 1 / s[$0 / per] }
            if p.ints[PlanOpSchema.Conv.hasBias] == 1 { scale(p.weights[1]) { 1 / s[$0] } }
            let w2 = c.weights[0], k = w2.shape[2] * w2.shape[3]
            if c.kind == .convTranspose2d {
                scale(w2) { s[$0 / (w2.shape[1] * k)] }
            } else {
                let cinG = w2.shape[1], coutG = w2.shape[0] / Int(c.ints[PlanOpSchema.Conv.groups])
                scale(w2) { i in s[((i / (cinG * k)) / coutG) * cinG + (i / k) % cinG] }
            }
        }
        return PlanFile(metadata: plan.metadata, graph: plan.graph, weights: PlanWeights(owned: bytes), sourceMap: plan.sourceMap)
    }

    /// What `equalize` did: the pairs and their scales.
    package struct Report: Sendable {
        package var pairs: [Pair]
        package var scales: [Int: [Float]]
        /// Per pair value: the ratio of the widest to the median channel range, before and after.
        package var spread: [Int: (before: Double, after: Double)]
    }

    /// Measures the channel ranges of every pair's intermediate value on the images and
    /// returns the equalized plan.
    package static func equalize(_ plan: PlanFile, images: Int, options: Options, threads: Int,
                                 input: (Int) throws -> [Float],
                                 progress: (Int, Int) -> Void = { _, _ in }) throws -> (plan: PlanFile, report: Report) {
        let found = pairs(plan)
        guard !found.isEmpty, images > 0 else { return (plan, Report(pairs: [], scales: [:], spread: [:])) }
        let maxima = try channelMaxima(plan, values: Set(found.map(\.value)), images: images, threads: threads,
                                       input: input, progress: progress)
        var all: [Int: [Float]] = [:], spread: [Int: (before: Double, after: Double)] = [:]
        let source = PlanWeightBuilder(source: plan.weights)
        for pair in found {
            guard let a = maxima[pair.value] else { continue }
            let c = plan.graph.ops[pair.consumer]
            let t = c.kind == .convTranspose2d
            let w = relativeInputRanges(source.floats(c.weights[0]), shape: c.weights[0].shape, transposed: t,
                                        groups: Int(c.ints[t ? PlanOpSchema.ConvTranspose.groups : PlanOpSchema.Conv.groups]))
            let s = scales(ranges: a, weightRanges: w, options: options)
            all[pair.value] = s
            spread[pair.value] = (Self.spread(a), Self.spread(a.indices.map { a[$0] / s[$0] }))
        }
        return (apply(plan, pairs: found, scales: all), Report(pairs: found, scales: all, spread: spread))
    }

    /// Widest / median of the nonzero channel ranges.
    package static func spread(_ r: [Float]) -> Double {
        let nz = r.filter { $0 > 0 }.sorted()
        guard let top = nz.last else { return 1 }
        return Double(top) / Double(nz[nz.count / 2])
    }
}
