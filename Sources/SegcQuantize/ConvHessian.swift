import CSegcKernels
import SegcCore
import SegcPlan
import SegcRuntime

/// H = Σ x·xᵀ of each conv's im2col columns (one per output pixel, entries in the weight
/// row's order: input channel of the group, then ky, kx; taps in the padding are 0) over the
/// calibration images, from the fp32 plan: what GPTQ needs to round a conv's weights
/// (`GPTQ.round`). One matrix per group (cin/groups · kh · kw square). Only the matrices are
/// kept; each image's activations are read as the plan produces them (`SegcSession.observer`).
package enum ConvHessian {
    /// Pixels per GEMM chunk are capped so one chunk's columns stay under this many floats.
    static let chunkFloats = 1 << 20

    /// op index → per group, H (row-major). `convs`: conv2d op indices of `plan` (batch 1).
    package static func collect(_ plan: PlanFile, convs: [Int], images: Int, threads: Int,
                                input: (Int) throws -> [Float],
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: [[Double]]] {
        let g = plan.graph
        var readers: [Int: [Int]] = [:]   // value → the convs reading it
        for i in convs where g.ops[i].kind == .conv2d && g.values[g.ops[i].inputs[0]].shape.first == 1 {
            readers[g.ops[i].inputs[0], default: []].append(i)
        }
        // Every conv's matrices are held at once (one fp32 run per image fills them all): a
        // 3x3 conv over 512 channels alone is 170 MB. Refuse clearly rather than exhaust memory.
        var total = 0
        for (_, ops) in readers {
            for i in ops {
                let w = g.ops[i].weights[0].shape, k = w[1] * w[2] * w[3]
                total += Int(g.ops[i].ints[PlanOpSchema.Conv.groups]) * k * k * 8
            }
        }
        try Limits.check(total, Limits.maxAllocationBytes, "GPTQ Hessian bytes (all convs at once)")
        var h: [Int: [[Double]]] = [:]
        for (_, ops) in readers {
            for i in ops {
                let op = g.ops[i], k = op.weights[0].shape[1] * op.weights[0].shape[2] * op.weights[0].shape[3]
                h[i] = Array(repeating: [Double](repeating: 0, count: k * k), count: Int(op.ints[PlanOpSchema.Conv.groups]))
            }
        }
        func accumulate(_ v: Int, _ x: UnsafeBufferPointer<Float>) {
            for i in readers[v] ?? [] { add(plan, op: i, x, into: &h[i]!) }
        }
        let session = try SegcSession(model: try SegcModel(plan: plan), threads: threads)
        var opOf: [Int: Int] = [:]
        for (i, op) in g.ops.enumerated() where readers[op.outputs[0]] != nil { opOf[i] = op.outputs[0] }
        session.observer = { i, b in if let v = opOf[i] { accumulate(v, b) } }
        for k in 0..<images {
            let x = try input(k)
            x.withUnsafeBufferPointer { accumulate(g.input, $0) }
            _ = try session.run(x)
            progress(k + 1, images)
        }
        session.observer = nil
        return h
    }

    /// Adds the im2col Gram matrices of conv `op` on input `x` ([1, cin, h, w]) to `hs`.
    static func add(_ plan: PlanFile, op i: Int, _ x: UnsafeBufferPointer<Float>, into hs: inout [[Double]]) {
        let op = plan.graph.ops[i]
        let xs = plan.graph.values[op.inputs[0]].shape, ys = plan.graph.values[op.outputs[0]].shape
        let c = PlanOpSchema.Conv.self
        let ints = op.ints.map { Int($0) }
        let kh = ints[c.kh], kw = ints[c.kw], sh = ints[c.strideH], sw = ints[c.strideW]
        let pt = ints[c.padTop], pl = ints[c.padLeft], dh = ints[c.dilationH], dw = ints[c.dilationW]
        let groups = ints[c.groups], cinG = xs[1] / groups
        let ih = xs[2], iw = xs[3], oh = ys[2], ow = ys[3], pixels = oh * ow
        let k = cinG * kh * kw
        guard x.count == xs[1] * ih * iw else { return }
        let chunk = max(1, min(pixels, chunkFloats / k))
        // cols: K × P (row-major, each row one (ci, ky, kx) over the chunk's pixels), rows: its
        // transpose; H += cols · rows.
        var cols = [Float](repeating: 0, count: k * chunk), rows = [Float](repeating: 0, count: chunk * k)
        var gram = [Float](repeating: 0, count: k * k)
        var scratch = [Float](repeating: 0, count: Int(segc_sgemm_scratch(Int64(k), Int64(chunk))))
        for grp in 0..<groups {
            var p0 = 0
            while p0 < pixels {
                let np = min(chunk, pixels - p0)
                for ci in 0..<cinG {
                    let plane = (grp * cinG + ci) * ih * iw
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            let r = (ci * kh + ky) * kw + kx
                            for p in 0..<np {
                                let oy = (p0 + p) / ow, ox = (p0 + p) % ow
                                let y = oy * sh - pt + ky * dh, xx = ox * sw - pl + kx * dw
                                cols[r * np + p] = (y >= 0 && y < ih && xx >= 0 && xx < iw) ? x[plane + y * iw + xx] : 0
                            }
                        }
                    }
                }
                for r in 0..<k { for p in 0..<np { rows[p * k + r] = cols[r * np + p] } }
                cols.withUnsafeBufferPointer { a in
                    rows.withUnsafeBufferPointer { b in
                        gram.withUnsafeMutableBufferPointer { cg in
                            scratch.withUnsafeMutableBufferPointer { s in
                                segc_sgemm(Int64(k), Int64(k), Int64(np), a.baseAddress, Int64(np), b.baseAddress, Int64(k),
                                           cg.baseAddress, Int64(k), 0, 0, s.baseAddress)
                            }
                        }
                    }
                }
                // Float sums within a chunk, double across chunks and images.
                for e in 0..<(k * k) { hs[grp][e] += Double(gram[e]) }
                p0 += np
            }
        }
    }
}
