import CSegcKernels
import XCTest

/// Conv geometry for the tests.
struct ConvCase {
    var cin, h, w, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups: Int
    var act: Int32 = 0, nslope = 0, bias = true, residual = false
    var oph = 0, opw = 0
}

/// Naive conv2d: the oracle.
func naiveConv(_ c: ConvCase, x: [Float], w: [Float], bias: [Float], res: [Float]?, slope: [Float]) -> ([Float], Int, Int) {
    let oh = (c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1
    let ow = (c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1
    let cig = c.cin / c.groups, cog = c.cout / c.groups
    var y = [Float](repeating: 0, count: c.cout * oh * ow)
    for co in 0..<c.cout {
        let g = co / cog
        for oy in 0..<oh { for ox in 0..<ow {
            var s: Float = c.bias ? bias[co] : 0
            for ci in 0..<cig { for ky in 0..<c.kh { for kx in 0..<c.kw {
                let iy = oy * c.sh - c.pt + ky * c.dh, ix = ox * c.sw - c.pl + kx * c.dw
                if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w { continue }
                s += x[((g * cig + ci) * c.h + iy) * c.w + ix] * w[((co * cig + ci) * c.kh + ky) * c.kw + kx]
            } } }
            let o = (co * oh + oy) * ow + ox
            if let res { s += res[o] }
            if c.act == 1 { s = max(s, 0) }
            if c.act == 2 { let a = slope[c.nslope == 1 ? 0 : co]; s = s > 0 ? s : s * a }
            y[o] = s
        } }
    }
    return (y, oh, ow)
}

/// Naive transposed conv (scatter form), weight [cin, cout/g, kh, kw].
func naiveConvT(_ c: ConvCase, x: [Float], w: [Float], bias: [Float], res: [Float]?, slope: [Float]) -> ([Float], Int, Int) {
    let oh = (c.h - 1) * c.sh - c.pt - c.pb + c.dh * (c.kh - 1) + c.oph + 1
    let ow = (c.w - 1) * c.sw - c.pl - c.pr + c.dw * (c.kw - 1) + c.opw + 1
    let cig = c.cin / c.groups, cog = c.cout / c.groups
    var y = [Float](repeating: 0, count: c.cout * oh * ow)
    for ci in 0..<c.cin {
        let g = ci / cig
        for iy in 0..<c.h { for ix in 0..<c.w {
            let xv = x[(ci * c.h + iy) * c.w + ix]
            for co in 0..<cog { for ky in 0..<c.kh { for kx in 0..<c.kw {
                let oy = iy * c.sh - c.pt + ky * c.dh, ox = ix * c.sw - c.pl + kx * c.dw
                if oy < 0 || oy >= oh || ox < 0 || ox >= ow { continue }
                y[((g * cog + co) * oh + oy) * ow + ox] += xv * w[((ci * cog + co) * c.kh + ky) * c.kw + kx]
            } } }
        } }
    }
    for co in 0..<c.cout { for i in 0..<(oh * ow) {
        let o = co * oh * ow + i
        var s = y[o] + (c.bias ? bias[co] : 0)
        if let res { s += res[o] }
        if c.act == 1 { s = max(s, 0) }
        if c.act == 2 { let a = slope[c.nslope == 1 ? 0 : co]; s = s > 0 ? s : s * a }
        y[o] = s
    } }
    return (y, oh, ow)
}

func params(_ c: ConvCase, oh: Int, ow: Int) -> segc_conv_params {
    var p = segc_conv_params()
    p.cin = Int64(c.cin); p.h = Int64(c.h); p.w = Int64(c.w); p.cout = Int64(c.cout); p.oh = Int64(oh); p.ow = Int64(ow)
    p.kh = Int64(c.kh); p.kw = Int64(c.kw); p.sh = Int64(c.sh); p.sw = Int64(c.sw); p.pt = Int64(c.pt); p.pl = Int64(c.pl)
    p.dh = Int64(c.dh); p.dw = Int64(c.dw); p.groups = Int64(c.groups); p.act = c.act; p.nslope = Int64(c.nslope)
    return p
}

/// Runs the C conv (or convT) with `env`.
func runConv(_ c: ConvCase, transposed: Bool, env: KernelEnv, x: [Float], w: [Float], bias: [Float], res: [Float]?,
             slope: [Float], oh: Int, ow: Int) -> ([Float], Int32) {
    var p = params(c, oh: oh, ow: ow)
    var y = [Float](repeating: .nan, count: c.cout * oh * ow)
    var rc: Int32 = 0
    let b: [Float]? = c.bias ? bias : nil
    let sl: [Float]? = c.act == 2 ? slope : nil
    if transposed {
        let n = Int(segc_convt_packed_size(&p))
        var packed = [Float](repeating: 0, count: max(n, 1))
        XCTAssertEqual(segc_convt_pack(&p, w, &packed), 0)
        XCTAssertLessThanOrEqual(segc_convt_ws(&p), Int64(KernelEnv.perThread))
        rc = segc_conv_transpose2d(env.pool, &p, x, packed, b, res, sl, &y, &env.ws)
    } else {
        XCTAssertLessThanOrEqual(segc_conv2d_ws(&p), Int64(KernelEnv.perThread))
        rc = segc_conv2d(env.pool, &p, x, w, b, res, sl, &y, &env.ws)
    }
    return (y, rc)
}

final class ConvKernelTests: XCTestCase {
    let env1 = KernelEnv(threads: 1), env2 = KernelEnv(threads: 2), env3 = KernelEnv(threads: 3)

    func randomCase(_ r: inout Rng, transposed: Bool) -> ConvCase {
        let groups = [1, 1, 2, 4][r.int(0...3)]
        var c = ConvCase(cin: groups * r.int(1...6), h: r.int(3...19), w: r.int(3...23), cout: groups * r.int(1...7),
                         kh: r.int(1...4), kw: r.int(1...4), sh: r.int(1...2), sw: r.int(1...3),
                         pt: r.int(0...2), pl: r.int(0...2), pb: r.int(0...2), pr: r.int(0...1),
                         dh: r.int(1...2), dw: r.int(1...3), groups: groups)
        c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : c.cout
        c.bias = r.int(0...3) > 0; c.residual = r.int(0...1) == 1
        if transposed {
            c.oph = r.int(0...(max(c.sh, c.dh) - 1)); c.opw = r.int(0...(max(c.sw, c.dw) - 1))
            c.pb = c.pt; c.pr = c.pl
            if (c.h - 1) * c.sh - c.pt - c.pb + c.dh * (c.kh - 1) + c.oph + 1 <= 0 { c.pt = 0; c.pb = 0 }
            if (c.w - 1) * c.sw - c.pl - c.pr + c.dw * (c.kw - 1) + c.opw + 1 <= 0 { c.pl = 0; c.pr = 0 }
        } else {
            if c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1 < 0 { c.dh = 1; c.kh = 1 }
            if c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1 < 0 { c.dw = 1; c.kw = 1 }
        }
        return c
    }

    func check(_ c: ConvCase, transposed: Bool, seed: UInt64) {
        var r = Rng(seed)
        let x = r.floats(c.cin * c.h * c.w)
        let w = r.floats(transposed ? c.cin * (c.cout / c.groups) * c.kh * c.kw : c.cout * (c.cin / c.groups) * c.kh * c.kw)
        let bias = r.floats(c.cout), slope = r.floats(c.cout)
        let (probeY, oh, ow) = transposed ? naiveConvT(c, x: x, w: w, bias: bias, res: nil, slope: slope)
                                           : naiveConv(c, x: x, w: w, bias: bias, res: nil, slope: slope)
        let res: [Float]? = c.residual ? r.floats(probeY.count) : nil
        let (want, _, _) = transposed ? naiveConvT(c, x: x, w: w, bias: bias, res: res, slope: slope)
                                      : naiveConv(c, x: x, w: w, bias: bias, res: res, slope: slope)
        // Every level this CPU has (the kernels' paths differ per level: GEMM micro-kernels,
        // transforms, non-temporal stores), each with 1, 2 and 3 threads.
        let was = Int32(segc_detected_cpu_level())
        defer { _ = segc_set_cpu_level(was) }
        for level in 0...was {
            _ = segc_set_cpu_level(level)
            var outs: [[Float]] = []
            for env in [env1, env2, env3] {
                let (y, rc) = runConv(c, transposed: transposed, env: env, x: x, w: w, bias: bias, res: res, slope: slope, oh: oh, ow: ow)
                XCTAssertEqual(rc, 0, "\(c)")
                outs.append(y)
            }
            assertClose(outs[0], want, tol: 1e-4, "\(transposed ? "convT" : "conv") level \(level) \(c)")
            XCTAssertEqual(outs[0], outs[1], "level \(level): threads 1 vs 2 not bit-identical: \(c)")
            XCTAssertEqual(outs[0], outs[2], "level \(level): threads 1 vs 3 not bit-identical: \(c)")
        }
    }

    func testConvRandomShapes() {
        var r = Rng(1)
        for i in 0..<60 { check(randomCase(&r, transposed: false), transposed: false, seed: UInt64(i)) }
    }

    func testConvNamedCases() {
        // ERFNet-like 3x1 and dilated 1x3, stride-2 downsampler with 3 input channels,
        // pointwise, depthwise, in-place residual (residual aliases y).
        let cases = [
            ConvCase(cin: 16, h: 20, w: 24, cout: 16, kh: 3, kw: 1, sh: 1, sw: 1, pt: 1, pl: 0, pb: 1, pr: 0, dh: 1, dw: 1, groups: 1, act: 1),
            ConvCase(cin: 16, h: 20, w: 24, cout: 16, kh: 1, kw: 3, sh: 1, sw: 1, pt: 0, pl: 4, pb: 0, pr: 4, dh: 1, dw: 4, groups: 1, act: 1, residual: true),
            ConvCase(cin: 3, h: 33, w: 41, cout: 13, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1),
            ConvCase(cin: 24, h: 9, w: 70, cout: 40, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 2, nslope: 40),
            ConvCase(cin: 8, h: 11, w: 12, cout: 8, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 8, act: 2, nslope: 1),
            ConvCase(cin: 4, h: 64, w: 96, cout: 6, kh: 3, kw: 3, sh: 1, sw: 1, pt: 2, pl: 0, pb: 0, pr: 2, dh: 2, dw: 1, groups: 1),
            // Pointwise on a plane of 1024 pixels with K >= 48: B copied into the column buffer.
            ConvCase(cin: 64, h: 32, w: 96, cout: 20, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 2, nslope: 20, residual: true),
        ]
        for (i, c) in cases.enumerated() { check(c, transposed: false, seed: UInt64(100 + i)) }
    }

    func testConvResidualInPlace() {
        var r = Rng(7)
        let c = ConvCase(cin: 5, h: 10, w: 13, cout: 6, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 1, residual: true)
        let x = r.floats(5 * 130), w = r.floats(6 * 5 * 9), bias = r.floats(6), res = r.floats(6 * 130)
        let (want, oh, ow) = naiveConv(c, x: x, w: w, bias: bias, res: res, slope: [])
        var p = params(c, oh: oh, ow: ow)
        var y = res
        let rc = y.withUnsafeMutableBufferPointer { yb in
            segc_conv2d(env2.pool, &p, x, w, bias, UnsafePointer(yb.baseAddress), nil, yb.baseAddress, &env2.ws)
        }
        XCTAssertEqual(rc, 0)
        assertClose(y, want, "in-place residual")
    }

    /// segc_conv2d_tail = segc_conv2d, then add r, then relu/prelu, bit for bit (the ops it
    /// replaces in a session), with y separate from r and with y = r; on the direct path
    /// (grouped, K <= 32), the exact GEMM and the fast GEMM (pointwise and im2col).
    func testConvTailEqualsConvThenAddThenActivation() {
        let cases: [(ConvCase, Int32)] = [
            (ConvCase(cin: 16, h: 9, w: 30, cout: 24, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 2, nslope: 24), 1),
            (ConvCase(cin: 16, h: 9, w: 30, cout: 16, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 2, act: 2, nslope: 16), 1),
            (ConvCase(cin: 8, h: 11, w: 13, cout: 16, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 1), 1),
            (ConvCase(cin: 32, h: 9, w: 70, cout: 40, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 2, nslope: 1), 0),
            (ConvCase(cin: 8, h: 12, w: 15, cout: 30, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 0), 0),
            // Pointwise with its B tile copied (plane 1024, K 64), exact and fast.
            (ConvCase(cin: 64, h: 16, w: 64, cout: 16, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 2, nslope: 16), 1),
            (ConvCase(cin: 64, h: 16, w: 64, cout: 16, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, act: 1), 0),
        ]
        for (n, (c, exact)) in cases.enumerated() {
            var r = Rng(UInt64(300 + n))
            let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * (c.cin / c.groups) * c.kh * c.kw)
            let bias = r.floats(c.cout), slope = r.floats(c.cout), slope2 = r.floats(c.cout)
            let oh = c.h + c.pt + c.pb - c.kh + 1, ow = c.w + c.pl + c.pr - c.kw + 1, plane = oh * ow
            let res = r.floats(c.cout * plane)
            var p = params(c, oh: oh, ow: ow)
            p.exact = exact
            XCTAssertEqual(segc_conv2d_tail_supported(&p), 1)
            XCTAssertLessThanOrEqual(segc_conv2d_tail_ws(&p), Int64(KernelEnv.perThread))
            for (tailAct, nslope) in [(Int32(SEGC_ACT_PRELU), c.cout), (Int32(SEGC_ACT_PRELU), 1), (Int32(SEGC_ACT_RELU), 0)] {
                for env in [env1, env2] {
                    var conv = [Float](repeating: .nan, count: c.cout * plane)
                    XCTAssertEqual(segc_conv2d(env.pool, &p, x, w, bias, nil, c.act == 2 ? slope : nil, &conv, &env.ws), 0)
                    var want = conv
                    for i in want.indices {
                        let v = (conv[i] + 0) + res[i]
                        let s = nslope == 1 ? slope2[0] : slope2[i / plane]
                        want[i] = tailAct == Int32(SEGC_ACT_RELU) ? (v > 0 ? v : 0) : (v > 0 ? v : v * s)
                    }
                    for aliased in [false, true] {
                        var y = aliased ? res : [Float](repeating: .nan, count: c.cout * plane)
                        let rc = res.withUnsafeBufferPointer { rb in
                            slope2.withUnsafeBufferPointer { sb in
                                y.withUnsafeMutableBufferPointer { yb in
                                    var t = segc_conv_tail(res: aliased ? UnsafePointer(yb.baseAddress) : rb.baseAddress,
                                                           slope: sb.baseAddress, act: tailAct, nslope: Int64(nslope))
                                    return segc_conv2d_tail(env.pool, &p, x, w, bias, c.act == 2 ? slope : nil, &t, yb.baseAddress, &env.ws)
                                }
                            }
                        }
                        XCTAssertEqual(rc, 0)
                        XCTAssertTrue(y.elementsEqual(want) { $0.bitPattern == $1.bitPattern },
                                      "case \(n) exact \(exact) tail \(tailAct)/\(nslope) aliased \(aliased)")
                    }
                }
            }
        }
        // Paths without a tail (1-D Winograd) say so, and refuse one.
        var q = params(ConvCase(cin: 64, h: 16, w: 40, cout: 64, kh: 3, kw: 1, sh: 1, sw: 1, pt: 1, pl: 0, pb: 1, pr: 0, dh: 1, dw: 1, groups: 1), oh: 16, ow: 40)
        XCTAssertEqual(segc_conv2d_tail_supported(&q), 0)
    }

    func testConvTransposeRandomShapes() {
        var r = Rng(2)
        for i in 0..<50 { check(randomCase(&r, transposed: true), transposed: true, seed: UInt64(1000 + i)) }
    }

    func testConvTransposeNamedCases() {
        let cases = [
            // ERFNet upsampler 3x3 s2 p1 op1, and the 2x2 s2 output conv.
            ConvCase(cin: 16, h: 8, w: 16, cout: 8, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 1, oph: 1, opw: 1),
            ConvCase(cin: 16, h: 8, w: 16, cout: 20, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1),
            // Kernel smaller than the stride: phases without taps (bias only).
            ConvCase(cin: 3, h: 5, w: 6, cout: 4, kh: 1, kw: 2, sh: 3, sw: 3, pt: 0, pl: 0, pb: 0, pr: 0, dh: 1, dw: 1, groups: 1, residual: true, oph: 2, opw: 1),
            // A 16 MiB output (ENet's logits are 40 MiB): stored with non-temporal stores.
            ConvCase(cin: 2, h: 512, w: 512, cout: 4, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 1, oph: 1, opw: 1),
        ]
        for (i, c) in cases.enumerated() { check(c, transposed: true, seed: UInt64(200 + i)) }
    }

    func testConvRejectsBadArguments() {
        var p = params(ConvCase(cin: 3, h: 4, w: 4, cout: 4, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 2), oh: 4, ow: 4)
        var y = [Float](repeating: 0, count: 64)
        XCTAssertEqual(segc_conv2d(env1.pool, &p, [Float](repeating: 0, count: 48), [Float](repeating: 0, count: 108), nil, nil, nil, &y, &env1.ws), Int32(SEGC_EINVAL))
        // Ungrouped: the GEMM path, which needs a workspace (only grouped tiny convs run direct).
        var q = params(ConvCase(cin: 8, h: 4, w: 4, cout: 4, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1), oh: 4, ow: 4)
        var tiny = segc_ws(base: env1.scratch, per_thread: 1, threads: 1, shared: nil, shared_count: 0)
        XCTAssertEqual(segc_conv2d(env1.pool, &q, [Float](repeating: 0, count: 128), [Float](repeating: 0, count: 288), nil, nil, nil, &y, &tiny), Int32(SEGC_ENOSPC))
    }
}
