import COpenBLAS
import SegcCore
import SegcIR
import SegcPasses
import SegcLower
import SegcPlan
import SegcRuntime

/// Accuracy recovery without training (issue 15, `prune --calib`): every ungrouped conv
/// or transposed conv whose input lost channels is re-fitted by ridge least squares so
/// that, on calibration images, its linear output from the *pruned* network's activations
/// matches the linear output (W·x + b) the *unpruned* layer computes from the unpruned
/// activations:
///
///   [W' b'] = argmin Σ_p ‖W·x(p) + b − W'·x'(p) − b'‖² + λ‖W'‖²
///           = T X'ᵀ (X' X'ᵀ + λI)⁻¹,  X' with a row of ones (the bias is re-estimated)
///
/// Transposed convs matter: ERFNet's decoder (two upsamplers and the output layer) reads
/// pruned channels; refitting them too took ERFNet `--ratio 0.3` per group from 84.7 % to
/// 92.5 % argmax agreement. (Fitting each residual block to the unpruned sum, residual
/// included, was tried and gave nothing measurable: 92.45 %.)
///
/// over sampled output pixels p. The unpruned network runs once per image (targets kept);
/// then, layer by layer in graph order, the pruned network — its earlier layers already
/// refitted — runs once per image to give x', and the normal equations (sgemm) are solved
/// by Cholesky in double precision. λ = ridge · mean(diag(X'X'ᵀ)).
package enum LeastSquaresRecovery {
    /// What the fit needs of a conv2d or a conv_transpose2d (ungrouped).
    struct Geometry {
        var kh: Int, kw: Int, strideH: Int, strideW: Int, padTop: Int, padLeft: Int
        var dilationH: Int, dilationW: Int, hasBias: Bool
        var transposed: Bool

        init?(_ op: Op) {
            switch op {
            case .conv2d(let c) where c.groups == 1:
                (kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW, hasBias, transposed) =
                    (c.kh, c.kw, c.strideH, c.strideW, c.padTop, c.padLeft, c.dilationH, c.dilationW, c.hasBias, false)
            case .convTranspose2d(let c) where c.groups == 1:
                (kh, kw, strideH, strideW, padTop, padLeft, dilationH, dilationW, hasBias, transposed) =
                    (c.kh, c.kw, c.strideH, c.strideW, c.padTop, c.padLeft, c.dilationH, c.dilationW, c.hasBias, true)
            default: return nil
            }
        }

        /// The input position tap (ky, kx) reads for output pixel (oy, ox); nil where it
        /// reads padding or (transposed) no input maps there.
        func tap(_ oy: Int, _ ox: Int, _ ky: Int, _ kx: Int, h: Int, w: Int) -> (Int, Int)? {
            let iy: Int, ix: Int
            if transposed {
                // y[oy] += x[iy] · w[ky] where iy·stride − pad + ky·dilation = oy.
                let ny = oy + padTop - ky * dilationH, nx = ox + padLeft - kx * dilationW
                guard ny >= 0, nx >= 0, ny % strideH == 0, nx % strideW == 0 else { return nil }
                iy = ny / strideH; ix = nx / strideW
            } else {
                iy = oy * strideH - padTop + ky * dilationH; ix = ox * strideW - padLeft + kx * dilationW
            }
            return iy >= 0 && iy < h && ix >= 0 && ix < w ? (iy, ix) : nil
        }
    }

    struct Target {
        var node: Int            // conv node index (same in both graphs)
        var source: Int          // plan op producing its input
        var conv: Geometry
        var cin: Int, cinKept: [Int], coutKept: [Int], h: Int, w: Int, oh: Int, ow: Int
        /// The unpruned conv's weight rows [coutKept, cin·kh·kw] and bias of its kept outputs.
        var weightRows: [Float], biasRows: [Float]
        var kp: Int { cinKept.count * conv.kh * conv.kw + 1 }
        var kf: Int { cin * conv.kh * conv.kw }
    }

    /// Gathers im2col columns of the first `channels` planes of `x` [C, h, w] at the sampled
    /// output pixels: out[(ci, ky, kx) row][sample] (zero padding), `extraOne` appends a row of ones.
    static func columns(_ x: UnsafeBufferPointer<Float>, _ t: Target, samples: [Int], channels: Int, extraOne: Bool) -> [Float] {
        let n = samples.count, c = t.conv
        let rows = channels * c.kh * c.kw + (extraOne ? 1 : 0)
        var out = [Float](repeating: 0, count: rows * n)
        var r = 0
        for ci in 0..<channels {
            for ky in 0..<c.kh { for kx in 0..<c.kw {
                for (j, p) in samples.enumerated() {
                    if let (iy, ix) = c.tap(p / t.ow, p % t.ow, ky, kx, h: t.h, w: t.w) { out[r * n + j] = x[(ci * t.h + iy) * t.w + ix] }
                }
                r += 1
            } }
        }
        if extraOne { for j in 0..<n { out[r * n + j] = 1 } }
        return out
    }

    package static func recover(original: Graph, pruned: Graph, result: ChannelPruning.Result, metadata: PlanMetadata,
                                inputs: [[Float]], ridge: Double, samplesPerImage: Int = 1024, threads: Int = 0,
                                progress: ((Int, Int) -> Void)? = nil) throws -> Graph {
        let planA = try Lowering.lower(original, metadata: metadata)
        let sessionA = try SegcSession(model: try SegcModel(plan: planA), threads: threads)
        let producer = original.producers()
        var targets: [Target] = []
        for (i, n) in original.nodes.enumerated() {
            guard let c = Geometry(n.op), let kept = result.inputKept[i],
                  let src = producer[n.inputs[0].index], var w = original.constants[n.inputs[1]]?.floats() else { continue }
            let xs = original.type(of: n.inputs[0]).shape, ys = original.type(of: n.outputs[0]).shape
            // A transposed conv's weight is [Cin, Cout, kh, kw]: its rows per output channel
            // are read as [Cout, Cin, kh, kw], as a conv's.
            if c.transposed { w = transposeFirstTwoAxes(w, xs[1], ys[1], c.kh * c.kw) }
            let bias = c.hasBias ? (original.constants[n.inputs[2]]?.floats() ?? []) : []
            let coutKept = result.outputKept[i] ?? Array(0..<ys[1])
            let kf = w.count / max(1, ys[1])
            targets.append(Target(node: i, source: src, conv: c, cin: xs[1], cinKept: kept, coutKept: coutKept,
                                  h: xs[2], w: xs[3], oh: ys[2], ow: ys[3],
                                  weightRows: coutKept.flatMap { w[($0 * kf)..<(($0 + 1) * kf)] },
                                  biasRows: bias.isEmpty ? [] : coutKept.map { bias[$0] }))
        }
        if targets.isEmpty { return pruned }
        var bySource: [Int: [Int]] = [:]
        for (k, t) in targets.enumerated() { bySource[t.source, default: []].append(k) }
        // Pass 1, unpruned network: per image and target, the sampled pixels and the
        // targets T = W x + b (kept output rows).
        var rng: UInt64 = 0x243F6A8885A308D3
        var samples = [[[Int]]](repeating: [], count: targets.count)
        var wanted = [[[Float]]](repeating: [], count: targets.count)
        for input in inputs {
            for k in targets.indices {
                let pixels = targets[k].oh * targets[k].ow, n = min(samplesPerImage, pixels)
                samples[k].append((0..<n).map { _ in rng = rng &* 6364136223846793005 &+ 1442695040888963407; return Int(rng >> 33) % pixels })
            }
            sessionA.observer = { op, buf in
                guard let ks = bySource[op] else { return }
                for k in ks {
                    let t = targets[k], s = samples[k].last!, n = s.count, kf = t.kf, m = t.coutKept.count
                    let xf = columns(buf, t, samples: s, channels: t.cin, extraOne: false)
                    var target = [Float](repeating: 0, count: m * n)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(kf), 1, t.weightRows,
                                Int32(kf), xf, Int32(n), 0, &target, Int32(n))
                    for (r, b) in t.biasRows.enumerated() { for j in 0..<n { target[r * n + j] += b } }
                    wanted[k].append(target)
                }
            }
            _ = try input.withUnsafeBufferPointer { try sessionA.run($0) }
            sessionA.observer = nil
        }
        // Pass 2, layer by layer in graph order: each target is refitted on the activations
        // of the pruned network whose earlier layers are already refitted.
        var out = pruned
        for (step, k) in targets.indices.enumerated() {
            let session = try SegcSession(model: try SegcModel(plan: try Lowering.lower(out, metadata: metadata)), threads: threads)
            let t = targets[k]
            let kp = t.kp, m = t.coutKept.count
            var a = [Float](repeating: 0, count: kp * kp), b = [Float](repeating: 0, count: m * kp)
            for (i, input) in inputs.enumerated() {
                let s = samples[k][i], n = s.count
                var xp: [Float] = []
                session.observer = { op, buf in
                    if op == t.source { xp = columns(buf, t, samples: s, channels: t.cinKept.count, extraOne: true) }
                }
                _ = try input.withUnsafeBufferPointer { try session.run($0) }
                session.observer = nil
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(kp), Int32(kp), Int32(n), 1, xp, Int32(n),
                            xp, Int32(n), 1, &a, Int32(kp))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(kp), Int32(n), 1, wanted[k][i], Int32(n),
                            xp, Int32(n), 1, &b, Int32(kp))
            }
            var ad = a.map(Double.init)
            let meanDiag = (0..<kp).reduce(0.0) { $0 + ad[$1 * kp + $1] } / Double(kp)
            for i in 0..<kp { ad[i * kp + i] += ridge * max(meanDiag, 1e-12) }
            progress?(step + 1, targets.count)
            guard let l = Cholesky.lower(ad, n: kp) else { continue }   // singular: keep the pruned weights
            let node = out.nodes[t.node]
            var newW = [Float](repeating: 0, count: m * (kp - 1)), newB = [Float](repeating: 0, count: m)
            for r in 0..<m {
                let sol = Cholesky.solve(lower: l, n: kp, (0..<kp).map { Double(b[r * kp + $0]) })
                // A channel dead on every calibration image solves to ~1e-40: stored as 0.
                for q in 0..<(kp - 1) { newW[r * (kp - 1) + q] = FlushSubnormalWeights.flushed(Float(sol[q])) }
                newB[r] = FlushSubnormalWeights.flushed(Float(sol[kp - 1]))
            }
            if t.conv.transposed { newW = transposeFirstTwoAxes(newW, m, t.cinKept.count, t.conv.kh * t.conv.kw) }
            out.constants[node.inputs[1]] = Tensor(newW, shape: out.type(of: node.inputs[1]).shape)
            if t.conv.hasBias { out.constants[node.inputs[2]] = Tensor(newB, shape: [m]) }
        }
        try out.verify()
        return out
    }

    /// [a, b, inner] → [b, a, inner].
    static func transposeFirstTwoAxes(_ x: [Float], _ a: Int, _ b: Int, _ inner: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<a { for j in 0..<b { for q in 0..<inner { out[(j * a + i) * inner + q] = x[(i * b + j) * inner + q] } } }
        return out
    }
}
