import CSegcKernels
import XCTest

/// Pooling, unpool, resize and elementwise kernels against naive Swift loops.
final class OtherKernelTests: XCTestCase {
    let envs = [KernelEnv(threads: 1), KernelEnv(threads: 2), KernelEnv(threads: 3)]

    static func poolOut(_ n: Int, _ k: Int, _ s: Int, _ p0: Int, _ p1: Int, _ d: Int, _ ceil: Bool) -> Int {
        let span = n + p0 + p1 - d * (k - 1) - 1
        var o = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (o - 1) * s >= n + p0 { o -= 1 }
        return o
    }

    func testMaxAndAvgPool() {
        var r = Rng(11)
        for iter in 0..<120 {
            // iter 119: a row longer than the 3x3/2 fast path's column chunk (256 outputs).
            let c = r.int(1...5), h = r.int(2...17), w = iter == 119 ? 600 : r.int(2...19)
            var kh = r.int(1...3), kw = r.int(1...4), sh = r.int(1...3), sw = r.int(1...3)
            var dh = r.int(1...2), dw = r.int(1...2)
            var pt = r.int(0...(kh / 2)), pl = r.int(0...(kw / 2)), pb = r.int(0...(kh / 2)), pr = r.int(0...(kw / 2))
            if iter >= 60 {
                // 2x2 stride 2 unpadded (ENet's index pools: the kernel's fast path; with
                // ceil and odd sizes, the generic path).
                (kh, kw, sh, sw, dh, dw, pt, pl, pb, pr) = (2, 2, 2, 2, 1, 1, 0, 0, 0, 0)
            }
            if iter >= 90 {
                // 3x3 stride 2 (BiSeNetV1's stem pool: the separable fast path when no indices are asked for).
                (kh, kw, sh, sw, dh, dw) = (3, 3, 2, 2, 1, 1)
                (pt, pl, pb, pr) = (r.int(0...1), r.int(0...1), r.int(0...1), r.int(0...1))
            }
            let ceil = r.int(0...1) == 1, incl = r.int(0...1)
            if h + pt + pb - dh * (kh - 1) - 1 < 0 || w + pl + pr - dw * (kw - 1) - 1 < 0 { continue }
            let oh = Self.poolOut(h, kh, sh, pt, pb, dh, ceil), ow = Self.poolOut(w, kw, sw, pl, pr, dw, ceil)
            let x = iter % 2 == 0 ? r.levels(c * h * w, 3) : r.floats(c * h * w)   // ties
            var wantY = [Float](repeating: 0, count: c * oh * ow), wantI = [Int64](repeating: 0, count: c * oh * ow)
            var wantA = wantY
            for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow {
                var m = -Float.infinity, mi: Int64 = -1, s: Float = 0
                var cy = 0, cx = 0
                for ky in 0..<kh {
                    let iy = oy * sh - pt + ky * dh
                    if (incl == 1 ? iy >= -pt && iy < h + pb : iy >= 0 && iy < h) { cy += 1 }
                }
                for kx in 0..<kw {
                    let ix = ox * sw - pl + kx * dw
                    if (incl == 1 ? ix >= -pl && ix < w + pr : ix >= 0 && ix < w) { cx += 1 }
                }
                for ky in 0..<kh { for kx in 0..<kw {
                    let iy = oy * sh - pt + ky * dh, ix = ox * sw - pl + kx * dw
                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                    let v = x[(ch * h + iy) * w + ix]
                    if v > m || mi < 0 { m = v; mi = Int64(iy * w + ix) }
                    s += v
                } }
                let o = (ch * oh + oy) * ow + ox
                wantY[o] = m; wantI[o] = mi; wantA[o] = cy * cx > 0 ? s / Float(cy * cx) : 0
            } } }
            var p = segc_pool_params()
            p.c = Int64(c); p.h = Int64(h); p.w = Int64(w); p.oh = Int64(oh); p.ow = Int64(ow)
            p.kh = Int64(kh); p.kw = Int64(kw); p.sh = Int64(sh); p.sw = Int64(sw); p.pt = Int64(pt); p.pl = Int64(pl)
            p.pb = Int64(pb); p.pr = Int64(pr); p.dh = Int64(dh); p.dw = Int64(dw); p.count_include_pad = Int32(incl)
            for env in envs {
                var y = [Float](repeating: .nan, count: c * oh * ow), idx = [Int64](repeating: -7, count: c * oh * ow)
                XCTAssertEqual(segc_max_pool2d(env.pool, &p, x, &y, &idx), 0)
                XCTAssertEqual(y, wantY, "max pool \(iter)")
                XCTAssertEqual(idx, wantI, "max pool indices \(iter) (first max wins)")
                var y2 = y
                XCTAssertEqual(segc_max_pool2d(env.pool, &p, x, &y2, nil), 0)
                XCTAssertEqual(y2, wantY)
                var a = y
                XCTAssertEqual(segc_avg_pool2d(env.pool, &p, x, &a), 0)
                assertClose(a, wantA, tol: 1e-5, "avg pool \(iter)")
            }
        }
    }

    func testMaxUnpool() {
        var r = Rng(12)
        let c = 3, h = 4, w = 5, oh = 8, ow = 10
        let x = r.floats(c * h * w)
        var idx = [Int64](repeating: 0, count: c * h * w)
        for i in idx.indices { idx[i] = Int64(r.int(0...(oh * ow - 1))) }
        var want = [Float](repeating: 0, count: c * oh * ow)
        for ch in 0..<c { for i in 0..<(h * w) { want[ch * oh * ow + Int(idx[ch * h * w + i])] = x[ch * h * w + i] } }
        for env in envs {
            var y = [Float](repeating: .nan, count: c * oh * ow)
            XCTAssertEqual(segc_max_unpool2d(env.pool, 3, 4, 5, 8, 10, x, idx, &y), 0)
            XCTAssertEqual(y, want)
            var bad = idx
            bad[37] = Int64(oh * ow)
            var z = [Float](repeating: 9, count: c * oh * ow)
            XCTAssertEqual(segc_max_unpool2d(env.pool, 3, 4, 5, 8, 10, x, bad, &z), Int32(SEGC_ERANGE))
            XCTAssert(z.allSatisfy { $0 == 9 }, "rejected unpool wrote to the output")
            bad[37] = -1
            XCTAssertEqual(segc_max_unpool2d(env.pool, 3, 4, 5, 8, 10, x, bad, &z), Int32(SEGC_ERANGE))
        }
    }

    /// Naive resize following the ONNX formulas.
    func naiveResize(_ x: [Float], c: Int, h: Int, w: Int, oh: Int, ow: Int, mode: Int, coord: Int, nearest: Int) -> [Float] {
        func src(_ o: Int, _ n: Int, _ on: Int) -> Float {
            let f = Float(o)
            switch coord {
            case 0: return (Float(n) / Float(on)) * (f + 0.5) - 0.5
            case 1: return on > 1 ? (Float(n) / Float(on)) * (f + 0.5) - 0.5 : 0
            case 2: return on > 1 ? (Float(n - 1) / Float(on - 1)) * f : 0
            default: return (Float(n) / Float(on)) * f
            }
        }
        func near(_ s: Float, _ n: Int) -> Int {
            var v: Float
            switch nearest {
            case 1: v = s.rounded(.up)
            case 2: v = s - s.rounded(.down) == 0.5 ? s.rounded(.down) : s.rounded()
            case 3: v = (s + 0.5).rounded(.down)
            default: v = s.rounded(.down)
            }
            return min(max(Int(v), 0), n - 1)
        }
        func lin(_ s0: Float, _ n: Int) -> (Int, Int, Float) {
            let s = max(s0, 0)
            let i = min(Int(s), n - 1)
            return (i, i < n - 1 ? i + 1 : i, min(s - Float(i), 1))
        }
        var y = [Float](repeating: 0, count: c * oh * ow)
        for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow {
            let sy = src(oy, h, oh), sx = src(ox, w, ow)
            let v: Float
            if mode == 0 {
                v = x[(ch * h + near(sy, h)) * w + near(sx, w)]
            } else {
                let (y0, y1, ly) = lin(sy, h), (x0, x1, lx) = lin(sx, w)
                let p = { (a: Int, b: Int) in x[(ch * h + a) * w + b] }
                v = (1 - ly) * ((1 - lx) * p(y0, x0) + lx * p(y0, x1)) + ly * ((1 - lx) * p(y1, x0) + lx * p(y1, x1))
            }
            y[(ch * oh + oy) * ow + ox] = v
        } } }
        return y
    }

    func testResizeAllModes() {
        var r = Rng(13)
        for mode in 0...1 { for coord in 0...3 { for nearest in 0...(mode == 0 ? 3 : 0) {
            for _ in 0..<4 {
                let c = r.int(1...3), h = r.int(1...9), w = r.int(1...9), oh = r.int(1...20), ow = r.int(1...20)
                let x = r.floats(c * h * w)
                let want = naiveResize(x, c: c, h: h, w: w, oh: oh, ow: ow, mode: mode, coord: coord, nearest: nearest)
                for env in envs {
                    var y = [Float](repeating: .nan, count: c * oh * ow)
                    XCTAssertEqual(segc_resize(env.pool, Int64(c), Int64(h), Int64(w), Int64(oh), Int64(ow), Int32(mode),
                                               Int32(coord), Int32(nearest), x, &y, &env.ws), 0)
                    assertClose(y, want, tol: 1e-5, "resize mode \(mode) coord \(coord) nearest \(nearest) \(h)x\(w)->\(oh)x\(ow)")
                }
            }
        } } }
        // PyTorch bilinear, align_corners=False, [1, 2] -> 4: [1, 1.25, 1.75, 2].
        var y = [Float](repeating: 0, count: 4)
        XCTAssertEqual(segc_resize(envs[0].pool, 1, 1, 2, 1, 4, 1, 0, 0, [1, 2], &y, &envs[0].ws), 0)
        XCTAssertEqual(y, [1, 1.25, 1.75, 2])
    }

    func testBinaryBroadcast() {
        var r = Rng(14)
        let shapes: [([Int64], [Int64], [Int64])] = [
            ([1, 4, 5, 6], [1, 4, 5, 6], [1, 4, 5, 6]),
            ([1, 4, 5, 6], [1, 4, 5, 6], [1, 4, 1, 1]),
            ([1, 4, 5, 6], [1, 1, 1, 1], [1, 4, 5, 6]),
            ([2, 3, 5, 7], [2, 1, 5, 1], [1, 3, 1, 7]),
            ([1, 3, 4, 5], [1, 3, 4, 1], [1, 1, 1, 5]),
            ([1, 1, 1, 9], [1, 1, 1, 1], [1, 1, 1, 9]),
        ]
        for (ys, as_, bs) in shapes {
            let a = r.floats(Int(as_.reduce(1, *))), b = r.floats(Int(bs.reduce(1, *))).map { $0 + 3 }
            let n = Int(ys.reduce(1, *))
            for op in 0...3 {
                var want = [Float](repeating: 0, count: n)
                for i in 0..<n {
                    var rem = i, ai = 0, bi = 0, sa = 1, sb = 1
                    for d in (0..<4).reversed() {
                        let k = rem % Int(ys[d]); rem /= Int(ys[d])
                        if as_[d] != 1 { ai += k * sa }
                        if bs[d] != 1 { bi += k * sb }
                        sa *= Int(as_[d]); sb *= Int(bs[d])
                    }
                    let (u, v) = (a[ai], b[bi])
                    want[i] = op == 0 ? u + v : op == 1 ? u - v : op == 2 ? u * v : u / v
                }
                for env in envs {
                    var y = [Float](repeating: .nan, count: n)
                    XCTAssertEqual(segc_binary(env.pool, Int32(op), ys, a, as_, b, bs, &y), 0)
                    XCTAssertEqual(y, want, "binary \(op) \(ys) \(as_) \(bs)")
                }
            }
        }
    }

    func testActivationsAffineSoftmaxPadConcat() {
        var r = Rng(15)
        let c = 5, hw = 77
        let x = r.floats(c * hw), s = r.floats(c), b = r.floats(c)
        for env in envs {
            var y = [Float](repeating: 0, count: c * hw)
            XCTAssertEqual(segc_relu(env.pool, Int64(c * hw), x, &y), 0)
            XCTAssertEqual(y, x.map { max($0, 0) })
            XCTAssertEqual(segc_sigmoid(env.pool, Int64(c * hw), x, &y), 0)
            assertClose(y, x.map { 1 / (1 + exp(-$0)) }, tol: 1e-6, "sigmoid")
            XCTAssertEqual(segc_prelu(env.pool, Int64(c), Int64(hw), x, s, Int64(c), &y), 0)
            XCTAssertEqual(y, x.indices.map { x[$0] > 0 ? x[$0] : x[$0] * s[$0 / hw] })
            XCTAssertEqual(segc_prelu(env.pool, Int64(c), Int64(hw), x, s, 1, &y), 0)
            XCTAssertEqual(y, x.map { $0 > 0 ? $0 : $0 * s[0] })
            XCTAssertEqual(segc_channel_affine(env.pool, Int64(c), Int64(hw), x, s, b, &y), 0)
            assertClose(y, x.indices.map { x[$0] * s[$0 / hw] + b[$0 / hw] }, tol: 1e-6, "affine")
            var g = [Float](repeating: 0, count: c)
            XCTAssertEqual(segc_global_avg_pool(env.pool, Int64(c), Int64(hw), x, &g), 0)
            assertClose(g, (0..<c).map { ch in x[(ch * hw)..<((ch + 1) * hw)].reduce(0, +) / Float(hw) }, tol: 1e-5, "gap")
            // softmax over channels of [1, c, hw]
            XCTAssertEqual(segc_softmax(env.pool, 1, Int64(c), Int64(hw), x, &y, &env.ws), 0)
            var want = [Float](repeating: 0, count: c * hw)
            for p in 0..<hw {
                let m = (0..<c).map { x[$0 * hw + p] }.max()!
                let e = (0..<c).map { exp(x[$0 * hw + p] - m) }, t = e.reduce(0, +)
                for k in 0..<c { want[k * hw + p] = e[k] / t }
            }
            assertClose(y, want, tol: 1e-5, "softmax")
            // pad [1, 2, 3, 4] by (0,1,2,1) before and (0,0,1,3) after with 7
            let xs: [Int64] = [1, 2, 3, 4], pads: [Int64] = [0, 1, 2, 1, 0, 0, 1, 3]
            let px = r.floats(24)
            var py = [Float](repeating: .nan, count: 1 * 3 * 6 * 8)
            XCTAssertEqual(segc_pad(env.pool, xs, pads, 7, px, &py), 0)
            for i1 in 0..<3 { for i2 in 0..<6 { for i3 in 0..<8 {
                let s1 = i1 - 1, s2 = i2 - 2, s3 = i3 - 1
                let inside = s1 >= 0 && s1 < 2 && s2 >= 0 && s2 < 3 && s3 >= 0 && s3 < 4
                XCTAssertEqual(py[(i1 * 6 + i2) * 8 + i3], inside ? px[(s1 * 3 + s2) * 4 + s3] : 7)
            } } }
            // concat along channels of [1,2,hw] and [1,3,hw]
            var cat = [Float](repeating: .nan, count: 5 * hw)
            XCTAssertEqual(segc_copy_rows(env.pool, 1, Int64(2 * hw), Array(x[0..<(2 * hw)]), &cat, Int64(5 * hw), 0), 0)
            XCTAssertEqual(segc_copy_rows(env.pool, 1, Int64(3 * hw), Array(x[(2 * hw)...]), &cat, Int64(5 * hw), Int64(2 * hw)), 0)
            XCTAssertEqual(cat, x)
        }
    }

    func testCpuLevelAndScalarPathAgree() {
        let level = String(cString: segc_cpu_level())
        XCTAssert(["avx512", "avx2", "scalar"].contains(level))
        print("kernel dispatch level: \(level)")
        var r = Rng(16)
        let x = r.floats(1000), b = r.floats(1000)
        var fast = [Float](repeating: 0, count: 1000), slow = fast
        let shape: [Int64] = [1, 1, 1, 1000]
        XCTAssertEqual(segc_binary(nil, 2, shape, x, shape, b, shape, &fast), 0)
        let was = segc_set_cpu_level(2)
        XCTAssertEqual(segc_set_cpu_level(0), 0)
        XCTAssertEqual(segc_binary(nil, 2, shape, x, shape, b, shape, &slow), 0)
        _ = segc_set_cpu_level(was)
        XCTAssertEqual(fast, slow)
    }

    /// The pool runs every task of every job exactly once, and the caller returns only after
    /// all of them: many short jobs on pools larger than the machine (workers often
    /// descheduled when a job is published, so the caller closes jobs they never joined),
    /// each task adding its job's number to its slot; a slot written twice, missed, or written
    /// after segc_pool_run returned shows in the totals.
    func testThreadPoolRunsEveryTaskOnce() {
        for threads in [2, 3, 8] {
            guard let pool = segc_pool_create(Int32(threads)) else { return XCTFail("pool") }
            defer { segc_pool_destroy(pool) }
            let slots = UnsafeMutablePointer<Int64>.allocate(capacity: 64)
            defer { slots.deallocate() }
            var rng = Rng(UInt64(threads))
            var bad = 0
            for job in 1...20_000 {
                let n = rng.int(1...64)
                slots.initialize(repeating: 0, count: 64)
                slots[63] = Int64(job)   // the task adds slots[63] to its own slot (n < 64: read only)
                let tasks = min(n, 63)
                segc_pool_run(pool, { ctx, t, _ in
                    let s = ctx!.assumingMemoryBound(to: Int64.self)
                    s[Int(t)] &+= s[63]
                }, slots, Int64(tasks))
                for t in 0..<64 where slots[t] != (t < tasks || t == 63 ? Int64(job) : 0) { bad += 1 }
            }
            XCTAssertEqual(bad, 0, "\(threads) threads: slots run twice, missed or late")
        }
    }

    /// Each thread starts on its own contiguous share of the tasks (thread i: tasks
    /// [i·n/T, (i+1)·n/T)), and a stalled thread's share is taken over from the back: every
    /// task sleeps 1 ms and the worker's first task 150 ms, so the caller (thread 0) runs its
    /// own half in order (nobody can steal it: the worker is asleep) and then all of the
    /// worker's share but the task it is sleeping in.
    func testThreadPoolSharesAndSteals() {
        guard let pool = segc_pool_create(2) else { return XCTFail("pool") }
        defer { segc_pool_destroy(pool) }
        let n = 40
        let ran = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { ran.deallocate() }
        for _ in 0..<3 {
            ran.initialize(repeating: -1, count: n)
            segc_pool_run(pool, { ctx, t, thread in
                let r = ctx!.assumingMemoryBound(to: Int32.self)
                usleep(t == 20 && thread == 1 ? 150_000 : 1_000)
                r[Int(t)] = thread
            }, ran, Int64(n))
            let byThread = (0..<n).map { ran[$0] }
            XCTAssertFalse(byThread.contains(-1), "a task did not run")
            XCTAssertEqual(Array(byThread[0..<20]), Array(repeating: 0, count: 20), "the caller's share: \(byThread)")
            // The worker ran task 20 (its share's front) if it joined, nothing else.
            XCTAssertEqual(Array(byThread[21...]), Array(repeating: 0, count: 19), "stolen from the back: \(byThread)")
        }
    }
}
