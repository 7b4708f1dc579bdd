import CSegcKernels
import XCTest

/// One int8 conv / conv_transpose case (segc_qconv_params plus what the test feeds it).
struct QConvCase {
    var cin, h, w, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups: Int
    var transposed = false
    var act: Int32 = 0, nslope = 1
    var outF32 = false, bias = true, residual = false
    var xzp: Int32 = 0, yzp: Int32 = 0, rzp: Int32 = 0
    var rmul: Float = 0.5

    var params: segc_qconv_params {
        var p = segc_qconv_params()
        p.cin = Int64(cin); p.h = Int64(h); p.w = Int64(w); p.cout = Int64(cout); p.oh = Int64(oh); p.ow = Int64(ow)
        p.kh = Int64(kh); p.kw = Int64(kw); p.sh = Int64(sh); p.sw = Int64(sw); p.pt = Int64(pt); p.pl = Int64(pl)
        p.dh = Int64(dh); p.dw = Int64(dw); p.groups = Int64(groups)
        p.act = act; p.out_f32 = outF32 ? 1 : 0; p.x_zp = xzp; p.y_zp = yzp; p.r_zp = rzp; p.r_mul = rmul
        p.nslope = Int64(nslope)
        return p
    }
    var wcount: Int { cout * (cin / groups) * kh * kw }
    var ycount: Int { cout * oh * ow }
}

/// The inputs of one case.
struct QConvData {
    var x: [UInt8], w: [Int8], bias: [Int32], mult: [Float], res: [UInt8], slope: [Float]

    init(_ c: QConvCase, _ r: inout Rng) {
        x = (0..<(c.cin * c.h * c.w)).map { _ in UInt8(r.int(0...255)) }
        if r.int(0...3) == 0 {   // mostly the zero point: padding-like inputs
            for i in x.indices where r.int(0...2) > 0 { x[i] = UInt8(c.xzp) }
        }
        w = (0..<c.wcount).map { _ in Int8(r.int(-128...127)) }
        if r.int(0...3) == 0 { for i in w.indices where r.int(0...4) == 0 { w[i] = r.int(0...1) == 0 ? -128 : 127 } }
        bias = (0..<c.cout).map { _ in Int32(r.int(-60000...60000)) }
        let k = Float(max(1, (c.cin / c.groups) * c.kh * c.kw))
        mult = (0..<c.cout).map { _ in
            // Powers of two give exact .5 ties after the multiply; the rest spans the u8 range.
            r.int(0...3) == 0 ? Float(1) / Float(1 << r.int(6...12)) : (0.004 + 0.02 * (r.float() + 1)) / k.squareRoot()
        }
        res = (0..<c.ycount).map { _ in UInt8(r.int(0...255)) }
        slope = (0..<c.cout).map { _ in r.float() * 0.5 }
    }
}

/// The header's definition, written out: int32 accumulation (wrapping), then the float
/// formula. Outputs as UInt32 (the byte, or the float's bits) so both kinds compare exactly.
func naiveQConv(_ c: QConvCase, _ d: QConvData) -> [UInt32] {
    let cig = c.cin / c.groups, cog = c.cout / c.groups, ohw = c.oh * c.ow
    var acc = [Int32](repeating: 0, count: c.ycount)
    for co in 0..<c.cout { for i in 0..<ohw { acc[co * ohw + i] = c.bias ? d.bias[co] : 0 } }
    let zp = Int32(c.xzp)
    if !c.transposed {
        for co in 0..<c.cout {
            let g = co / cog
            for oy in 0..<c.oh { for ox in 0..<c.ow {
                var s = acc[co * ohw + oy * c.ow + ox]
                for ci in 0..<cig { for ky in 0..<c.kh { for kx in 0..<c.kw {
                    let iy = oy * c.sh - c.pt + ky * c.dh, ix = ox * c.sw - c.pl + kx * c.dw
                    if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w { continue }
                    let xv = Int32(d.x[((g * cig + ci) * c.h + iy) * c.w + ix]) - zp
                    s = s &+ xv &* Int32(d.w[((co * cig + ci) * c.kh + ky) * c.kw + kx])
                } } }
                acc[co * ohw + oy * c.ow + ox] = s
            } }
        }
    } else {
        // Scatter form: y[co, iy*sh − pt + ky*dh, ix*sw − pl + kx*dw] += x[ci, iy, ix]·w[ci, co, ky, kx].
        for ci in 0..<c.cin {
            let g = ci / cig
            for iy in 0..<c.h { for ix in 0..<c.w {
                let xv = Int32(d.x[(ci * c.h + iy) * c.w + ix]) - zp
                for cg in 0..<cog { for ky in 0..<c.kh { for kx in 0..<c.kw {
                    let oy = iy * c.sh - c.pt + ky * c.dh, ox = ix * c.sw - c.pl + kx * c.dw
                    if oy < 0 || oy >= c.oh || ox < 0 || ox >= c.ow { continue }
                    let o = (g * cog + cg) * ohw + oy * c.ow + ox
                    acc[o] = acc[o] &+ xv &* Int32(d.w[((ci * cog + cg) * c.kh + ky) * c.kw + kx])
                } } }
            } }
        }
    }
    var y = [UInt32](repeating: 0, count: c.ycount)
    let lo = Float(-c.yzp), hi = Float(255 - c.yzp)
    for co in 0..<c.cout { for i in 0..<ohw {
        let o = co * ohw + i
        var v = Float(acc[o]) * d.mult[co]
        if c.residual { v = v + Float(Int32(d.res[o]) - c.rzp) * c.rmul }
        if c.act == 1 { v = v > 0 ? v : 0 }
        if c.act == 2 { let s = d.slope[c.nslope == 1 ? 0 : co]; v = v > 0 ? v : v * s }
        if c.outF32 { y[o] = v.bitPattern; continue }
        var q = v.rounded(.toNearestOrEven)
        q = q > lo ? q : lo
        q = q < hi ? q : hi
        y[o] = UInt32(Int32(q) + c.yzp)
    } }
    return y
}

/// The dispatch level in effect (segc_cpu_level's name as a number).
func currentKernelLevel() -> Int32 {
    switch String(cString: segc_cpu_level()) {
    case "avx512": return 2
    case "avx2": return 1
    default: return 0
    }
}

/// Packs at `level` (the current level when nil) and runs; nil when a call fails.
func runQConv(_ c: QConvCase, _ d: QConvData, env: KernelEnv, packLevel: Int32? = nil,
              file: StaticString = #filePath, line: UInt = #line) -> [UInt32]? {
    var p = c.params
    let tr: Int32 = c.transposed ? 1 : 0
    let was = currentKernelLevel()
    if let packLevel { _ = segc_set_cpu_level(packLevel) }
    let n = segc_qconv_packed_bytes(&p, tr)
    guard n > 0 else { XCTFail("packed_bytes \(n)", file: file, line: line); return nil }
    let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(n), alignment: 64)
    defer { packed.deallocate() }
    XCTAssertEqual(segc_qconv_pack(&p, tr, d.w, c.bias ? d.bias : nil, packed), 0, file: file, line: line)
    let need = segc_qconv_ws(&p, tr)
    _ = segc_set_cpu_level(was)
    XCTAssertLessThanOrEqual(need, Int64(KernelEnv.perThread), file: file, line: line)
    let res: [UInt8]? = c.residual ? d.res : nil
    let slope: [Float]? = c.act == 2 ? d.slope : nil
    if c.outF32 {
        var y = [Float](repeating: .nan, count: c.ycount)
        let rc = segc_qconv2d(env.pool, &p, tr, d.x, packed, d.mult, res, slope, &y, &env.ws)
        XCTAssertEqual(rc, 0, file: file, line: line)
        return rc == 0 ? y.map { $0.bitPattern } : nil
    }
    var y = [UInt8](repeating: 0xA5, count: c.ycount)
    let rc = segc_qconv2d(env.pool, &p, tr, d.x, packed, d.mult, res, slope, &y, &env.ws)
    XCTAssertEqual(rc, 0, file: file, line: line)
    return rc == 0 ? y.map { UInt32($0) } : nil
}

final class QuantConvKernelTests: XCTestCase {
    let envs = [KernelEnv(threads: 1), KernelEnv(threads: 2), KernelEnv(threads: 3)]
    var levels: [Int32] { Array(0...segc_detected_cpu_level()) }

    override func tearDown() {
        _ = segc_set_cpu_level(segc_detected_cpu_level())
        unsetenv("SEGC_NO_VNNI")
    }

    func randomCase(_ r: inout Rng, transposed: Bool) -> QConvCase {
        let groups = [1, 1, 1, 2, 3][r.int(0...4)]
        let kernels = [(1, 1), (3, 1), (1, 3), (3, 3), (2, 2), (r.int(1...5), r.int(1...5))]
        let (kh, kw) = kernels[r.int(0...(kernels.count - 1))]
        var c = QConvCase(cin: groups * r.int(1...21), h: r.int(1...19), w: r.int(1...37), cout: groups * r.int(1...23),
                          oh: 1, ow: 1, kh: kh, kw: kw, sh: r.int(1...3), sw: r.int(1...3), pt: r.int(0...2),
                          pl: r.int(0...2), dh: r.int(1...3), dw: r.int(1...3), groups: groups)
        if r.int(0...3) == 0 { c.w = r.int(60...140); c.h = r.int(1...5) }   // whole 64-pixel tiles
        if r.int(0...2) == 0 { c.sh = 1; c.sw = 1 }
        if r.int(0...2) == 0 { c.dh = 1; c.dw = 1 }
        c.transposed = transposed
        c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : c.cout
        c.outF32 = r.int(0...3) == 0; c.bias = r.int(0...3) > 0; c.residual = r.int(0...1) == 1
        let zps: [Int32] = [0, 255, 128, Int32(r.int(0...255))]
        c.xzp = zps[r.int(0...3)]; c.yzp = zps[r.int(0...3)]; c.rzp = zps[r.int(0...3)]
        c.rmul = r.float() * 1.5
        if transposed {
            let oph = r.int(0...(max(c.sh, c.dh) - 1)), opw = r.int(0...(max(c.sw, c.dw) - 1))
            c.oh = (c.h - 1) * c.sh - 2 * c.pt + c.dh * (c.kh - 1) + oph + 1
            c.ow = (c.w - 1) * c.sw - 2 * c.pl + c.dw * (c.kw - 1) + opw + 1
            if c.oh <= 0 { c.pt = 0; c.oh = (c.h - 1) * c.sh + c.dh * (c.kh - 1) + oph + 1 }
            if c.ow <= 0 { c.pl = 0; c.ow = (c.w - 1) * c.sw + c.dw * (c.kw - 1) + opw + 1 }
        } else {
            let pb = r.int(0...2), pr = r.int(0...2)
            c.oh = (c.h + c.pt + pb - c.dh * (c.kh - 1) - 1) / c.sh + 1
            c.ow = (c.w + c.pl + pr - c.dw * (c.kw - 1) - 1) / c.sw + 1
            if c.h + c.pt + pb - c.dh * (c.kh - 1) - 1 < 0 { c.oh = r.int(1...3) }   // all-padding windows
            if c.w + c.pl + pr - c.dw * (c.kw - 1) - 1 < 0 { c.ow = r.int(1...3) }
        }
        return c
    }

    /// ERFNet-like shapes, shrunk: the layouts the SIMD kernels specialise.
    func erfnetLikeCases(_ r: inout Rng) -> [QConvCase] {
        var out: [QConvCase] = []
        func add(_ cin: Int, _ h: Int, _ w: Int, _ cout: Int, _ kh: Int, _ kw: Int, _ s: Int, _ pt: Int, _ pl: Int,
                 _ dh: Int = 1, _ dw: Int = 1, tr: Bool = false, op: Int = 0) {
            var c = QConvCase(cin: cin, h: h, w: w, cout: cout, oh: 0, ow: 0, kh: kh, kw: kw, sh: s, sw: s, pt: pt,
                              pl: pl, dh: dh, dw: dw, groups: 1)
            c.transposed = tr
            if tr {
                c.oh = (h - 1) * s - 2 * pt + kh + op; c.ow = (w - 1) * s - 2 * pl + kw + op
            } else {
                c.oh = (h + 2 * pt - dh * (kh - 1) - 1) / s + 1; c.ow = (w + 2 * pl - dw * (kw - 1) - 1) / s + 1
            }
            c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : c.cout
            c.xzp = Int32(r.int(0...255)); c.yzp = Int32(r.int(0...40)); c.rzp = Int32(r.int(0...255))
            c.residual = r.int(0...1) == 1
            out.append(c)
        }
        add(64, 9, 70, 64, 3, 1, 1, 1, 0)
        add(64, 9, 64, 64, 1, 3, 1, 0, 1)
        add(128, 20, 16, 128, 3, 1, 1, 8, 0, 8, 1)
        add(128, 6, 40, 128, 1, 3, 1, 0, 16, 1, 16)
        add(16, 7, 33, 16, 3, 1, 1, 1, 0)
        add(128, 8, 40, 128, 1, 3, 1, 0, 1)   // enough rows for per-task packing (quant/qconv_tiled.c)
        add(64, 32, 48, 64, 3, 1, 1, 1, 0)    // the same with a vertical halo
        add(8, 3, 128, 8, 1, 3, 1, 0, 1)      // rows of 128: AVX-VNNI tiles 4·24 + 2·16 (segc_qtile_width)
        add(12, 4, 28, 5, 3, 3, 1, 1, 1)      // rows of 28: 16 + 12
        add(3, 12, 30, 13, 3, 3, 2, 1, 1)
        add(16, 11, 26, 48, 3, 3, 2, 1, 1)
        add(64, 8, 17, 64, 3, 3, 2, 1, 1)
        add(128, 5, 9, 64, 3, 3, 2, 1, 1, tr: true, op: 1)
        add(64, 6, 11, 16, 3, 3, 2, 1, 1, tr: true, op: 1)
        add(16, 3, 70, 8, 3, 3, 2, 1, 1, tr: true, op: 1)   // phase rows of 70: a whole tile and a tail
        var last = QConvCase(cin: 16, h: 7, w: 13, cout: 20, oh: 14, ow: 26, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0,
                             dh: 1, dw: 1, groups: 1)
        last.transposed = true; last.outF32 = true; last.xzp = 3
        out.append(last)
        last.h = 3; last.w = 40; last.oh = 6; last.ow = 80   // a whole 32-pixel phase pair and a tail
        out.append(last)
        // Odd output width (phase rows of 35 and 34), float output, residual, prelu.
        var odd = QConvCase(cin: 8, h: 4, w: 35, cout: 6, oh: 7, ow: 69, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1,
                            dh: 1, dw: 1, groups: 1)
        odd.transposed = true; odd.outF32 = true; odd.residual = true; odd.act = 2; odd.nslope = 6; odd.xzp = 200
        out.append(odd)
        // Float output with a residual over whole phase pairs (the pair kernels' vector loads).
        var paired = QConvCase(cin: 16, h: 3, w: 40, cout: 9, oh: 6, ow: 80, kh: 2, kw: 2, sh: 2, sw: 2, pt: 0, pl: 0,
                               dh: 1, dw: 1, groups: 1)
        paired.transposed = true; paired.outF32 = true; paired.residual = true; paired.act = 1; paired.rzp = 77
        out.append(paired)
        return out
    }

    func check(_ c: QConvCase, _ d: QConvData, _ want: [UInt32], _ what: String) {
        for level in levels {
            for env in envs {
                _ = segc_set_cpu_level(level)
                guard let got = runQConv(c, d, env: env) else { continue }
                if got != want {
                    let i = got.indices.first { got[$0] != want[$0] } ?? -1
                    XCTFail("\(what) level \(level) (\(String(cString: segc_qconv_kernel()))) threads \(env.threads): first mismatch at \(i) " +
                            "(\(i >= 0 ? got[i] : 0) vs \(i >= 0 ? want[i] : 0)) \(c)")
                    return
                }
            }
        }
    }

    /// Scalar = the Swift definition; every level and thread count = scalar, byte for byte.
    func testEveryLevelMatchesTheDefinitionExactly() {
        var r = Rng(8)
        var cases = erfnetLikeCases(&r)
        for i in 0..<120 { cases.append(randomCase(&r, transposed: i % 3 == 2)) }
        for (n, c) in cases.enumerated() {
            let d = QConvData(c, &r)
            let want = naiveQConv(c, d)
            _ = segc_set_cpu_level(0)
            guard let scalar = runQConv(c, d, env: envs[0]) else { continue }
            XCTAssertEqual(scalar, want, "case \(n): scalar vs definition \(c)")
            check(c, d, scalar, "case \(n)")
        }
    }

    /// The SIMD levels without VNNI (vpmaddwd on int16 pairs at avx2 and avx512), forced
    /// through SEGC_NO_VNNI at packing time: on a VNNI machine the other tests run the
    /// VNNI kernels (AVX-VNNI at avx2, AVX-512 VNNI at avx512), this one the fallbacks.
    func testSIMDLevelsWithoutVNNIMatch() throws {
        guard segc_detected_cpu_level() >= 1 else { throw XCTSkip("no AVX2") }
        var r = Rng(81)
        var cases = erfnetLikeCases(&r)
        for i in 0..<40 { cases.append(randomCase(&r, transposed: i % 3 == 2)) }
        for (n, c) in cases.enumerated() {
            let d = QConvData(c, &r)
            _ = segc_set_cpu_level(0)
            guard let scalar = runQConv(c, d, env: envs[0]) else { continue }
            setenv("SEGC_NO_VNNI", "1", 1)
            for level in Int32(1)...segc_detected_cpu_level() {
                _ = segc_set_cpu_level(level)
                XCTAssertEqual(String(cString: segc_qconv_kernel()), level == 1 ? "avx2/vpmaddwd" : "avx512/vpmaddwd")
                for env in envs {
                    XCTAssertEqual(runQConv(c, d, env: env), scalar, "case \(n) level \(level) threads \(env.threads) \(c)")
                }
            }
            unsetenv("SEGC_NO_VNNI")
        }
    }

    /// Integer Winograd F(4,3) and F(2x2,3x3) (quant/qconv_wino.c) at plain AVX2: the 3x1, 1x3 and 3x3 convs it
    /// takes (vertical at any dilation, horizontal at dilations 1, 2, 4 and multiples of 8), odd
    /// channel counts, residual, prelu, float output, and the extreme data its int32 bound
    /// is for (cin 512, inputs 0/255, weights −128/127): the scalar level's bytes exactly.
    func testWinogradConvsMatch() throws {
        guard segc_detected_cpu_level() >= 1 else { throw XCTSkip("no AVX2") }
        var r = Rng(44)
        func conv(_ cin: Int, _ h: Int, _ w: Int, _ cout: Int, vertical: Bool, d: Int) -> QConvCase {
            var c = QConvCase(cin: cin, h: h, w: w, cout: cout, oh: h, ow: w, kh: vertical ? 3 : 1, kw: vertical ? 1 : 3,
                              sh: 1, sw: 1, pt: vertical ? d : 0, pl: vertical ? 0 : d, dh: vertical ? d : 1,
                              dw: vertical ? 1 : d, groups: 1)
            c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : cout
            c.xzp = Int32(r.int(0...255)); c.yzp = Int32(r.int(0...40)); c.rzp = Int32(r.int(0...255))
            c.residual = r.int(0...1) == 1; c.outF32 = r.int(0...4) == 0
            return c
        }
        var cases = [conv(64, 8, 32, 64, vertical: true, d: 1), conv(37, 16, 16, 13, vertical: true, d: 2),
                     conv(8, 64, 16, 6, vertical: true, d: 16), conv(128, 16, 48, 128, vertical: true, d: 4),
                     conv(64, 3, 64, 64, vertical: false, d: 1), conv(9, 2, 64, 7, vertical: false, d: 8),
                     conv(5, 3, 128, 11, vertical: false, d: 16), conv(61, 4, 192, 59, vertical: false, d: 1),
                     conv(512, 4, 16, 5, vertical: true, d: 1), conv(512, 2, 64, 5, vertical: false, d: 1),
                     conv(33, 3, 64, 17, vertical: false, d: 2), conv(128, 2, 128, 128, vertical: false, d: 4)]
        cases[2].outF32 = true; cases[5].act = 2; cases[5].nslope = 7
        // F(2x2,3x3): 3x3, stride 1, padding 1, even heights, widths multiples of 32.
        func conv3x3(_ cin: Int, _ h: Int, _ w: Int, _ cout: Int) -> QConvCase {
            var c = conv(cin, h, w, cout, vertical: true, d: 1)
            c.kw = 3; c.pl = 1
            return c
        }
        cases += [conv3x3(16, 6, 32, 16), conv3x3(37, 4, 64, 13), conv3x3(128, 8, 32, 64), conv3x3(3, 2, 96, 5),
                  conv3x3(512, 2, 32, 5)]
        for (n, c) in cases.enumerated() {
            var p = c.params
            var datas = [QConvData(c, &r)]
            if c.cin == 512 {   // the bound: |24·y| at its largest (all 255 against all −128, and 0/255 stripes)
                var e = QConvData(c, &r)
                e.x = e.x.indices.map { _ in 255 }; e.w = e.w.map { _ in -128 }
                datas.append(e)
                e.x = e.x.indices.map { UInt8(($0 / 3) % 2 == 0 ? 255 : 0) }; e.w = e.w.indices.map { $0 % 2 == 0 ? 127 : -128 }
                datas.append(e)
            }
            for d in datas {
                _ = segc_set_cpu_level(0)
                guard let scalar = runQConv(c, d, env: envs[0]) else { continue }
                XCTAssertEqual(scalar, naiveQConv(c, d), "case \(n): scalar vs definition")
                setenv("SEGC_NO_VNNI", "1", 1)
                defer { unsetenv("SEGC_NO_VNNI") }
                // Both vpmaddwd kernels: avx2, and avx512 where the CPU has it.
                for level in Int32(1)...min(2, segc_detected_cpu_level()) {
                    _ = segc_set_cpu_level(level)
                    // The packing carries the transformed weights (header field wino_off, byte 144 of
                    // segc_qpack_hdr in quant/qconv.h), so the comparison below ran that path.
                    let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(segc_qconv_packed_bytes(&p, 0)), alignment: 64)
                    defer { packed.deallocate() }
                    XCTAssertEqual(segc_qconv_pack(&p, 0, d.w, d.bias, packed), 0)
                    XCTAssertGreaterThan(packed.load(fromByteOffset: 144, as: Int64.self), 0,
                                         "case \(n) level \(level): no Winograd weights")
                    for env in envs {
                        XCTAssertEqual(runQConv(c, d, env: env), scalar, "case \(n) level \(level) threads \(env.threads) \(c)")
                    }
                }
            }
        }
    }

    /// The kernel a packing picks follows the CPU's VNNI flags (as the kernel reports them in
    /// /proc/cpuinfo: an independent reading of CPUID) and SEGC_NO_VNNI, and the packed header
    /// records it, so the tests above run the kernels they mean to.
    func testKernelChoiceFollowsTheCPU() throws {
        guard segc_detected_cpu_level() >= 1 else { throw XCTSkip("no AVX2") }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo")
        }
        let flags = Set(flagLine.split(separator: " ").map(String.init))
        var r = Rng(5)
        let c = erfnetLikeCases(&r)[0]
        var p = c.params
        let d = QConvData(c, &r)
        /// SEGC_QK_* of a fresh packing at `level` (the header's third int32).
        func packedKernel(_ level: Int32) -> Int32 {
            _ = segc_set_cpu_level(level)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(segc_qconv_packed_bytes(&p, 0)), alignment: 64)
            defer { packed.deallocate() }
            XCTAssertEqual(segc_qconv_pack(&p, 0, d.w, d.bias, packed), 0)
            return packed.load(fromByteOffset: 8, as: Int32.self)
        }
        let avxVNNI = flags.contains("avx_vnni")
        XCTAssertEqual(packedKernel(1), avxVNNI ? 4 : 1)
        XCTAssertEqual(String(cString: segc_qconv_kernel()), avxVNNI ? "avx2/avx-vnni" : "avx2/vpmaddwd")
        if segc_detected_cpu_level() >= 2 {
            let vnni512 = flags.contains("avx512_vnni")
            XCTAssertEqual(packedKernel(2), vnni512 ? 3 : 2)
            XCTAssertEqual(String(cString: segc_qconv_kernel()), vnni512 ? "avx512/vnni" : "avx512/vpmaddwd")
        }
        setenv("SEGC_NO_VNNI", "1", 1)
        XCTAssertEqual(packedKernel(1), 1)
        if segc_detected_cpu_level() >= 2 { XCTAssertEqual(packedKernel(2), 2) }
        unsetenv("SEGC_NO_VNNI")
        XCTAssertEqual(packedKernel(0), 0)
        XCTAssertEqual(String(cString: segc_qconv_kernel()), "scalar")
    }

    /// A buffer packed at one level runs that level's kernel whatever the current level is.
    func testPackedLevelIsKeptAndHeaderChecked() {
        var r = Rng(3)
        let c = erfnetLikeCases(&r)[0]
        let d = QConvData(c, &r)
        let want = naiveQConv(c, d)
        for noVNNI in [false, true] {
            if noVNNI { setenv("SEGC_NO_VNNI", "1", 1) }
            for packLevel in levels {
                for runLevel in levels {
                    _ = segc_set_cpu_level(runLevel)
                    XCTAssertEqual(runQConv(c, d, env: envs[1], packLevel: packLevel), want,
                                   "pack \(packLevel) run \(runLevel) SEGC_NO_VNNI \(noVNNI)")
                }
            }
            unsetenv("SEGC_NO_VNNI")
        }
        // Parameters that disagree with the packed header are rejected.
        _ = segc_set_cpu_level(segc_detected_cpu_level())
        var p = c.params
        let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(segc_qconv_packed_bytes(&p, 0)), alignment: 64)
        defer { packed.deallocate() }
        XCTAssertEqual(segc_qconv_pack(&p, 0, d.w, d.bias, packed), 0)
        var y = [UInt8](repeating: 0, count: c.ycount)
        var q = p; q.x_zp = (p.x_zp + 1) % 256
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &q, 0, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), Int32(SEGC_EINVAL))
        q = p; q.cin += 1
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &q, 0, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &p, 1, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), Int32(SEGC_EINVAL))
        q = p; q.y_zp = 256
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &q, 0, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), Int32(SEGC_EINVAL))
        q = p; q.act = 2
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &q, 0, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_qconv2d(envs[0].pool, &p, 0, d.x, packed, d.mult, nil, nil, &y, &envs[0].ws), 0)
        if segc_qconv_ws(&p, 0) > 0 {
            var small = envs[0].ws
            small.per_thread = segc_qconv_ws(&p, 0) - 1
            XCTAssertEqual(segc_qconv2d(envs[0].pool, &p, 0, d.x, packed, d.mult, nil, nil, &y, &small), Int32(SEGC_ENOSPC))
        }
    }

    /// The executor's QCONV case reaches the kernel with the documented fields.
    func testExecutorQConv() {
        var r = Rng(4)
        let c = erfnetLikeCases(&r)[5]
        let d = QConvData(c, &r)
        let want = naiveQConv(c, d)
        var p = c.params
        let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(segc_qconv_packed_bytes(&p, 0)), alignment: 64)
        defer { packed.deallocate() }
        XCTAssertEqual(segc_qconv_pack(&p, 0, d.w, d.bias, packed), 0)
        var y = [UInt8](repeating: 0, count: c.ycount)
        d.x.withUnsafeBufferPointer { xb in d.res.withUnsafeBufferPointer { rb in d.mult.withUnsafeBufferPointer { mb in
            y.withUnsafeMutableBufferPointer { yb in
                var op = segc_op()
                op.kind = Int32(SEGC_OP_QCONV); op.sub = 0; op.qconv = p
                op.in0 = UnsafeRawPointer(xb.baseAddress!).assumingMemoryBound(to: Float.self)
                op.in1 = c.residual ? UnsafeRawPointer(rb.baseAddress!).assumingMemoryBound(to: Float.self) : nil
                op.w0 = UnsafeRawPointer(packed).assumingMemoryBound(to: Float.self)
                op.w1 = mb.baseAddress
                op.out0 = UnsafeMutableRawPointer(yb.baseAddress!).assumingMemoryBound(to: Float.self)
                XCTAssertEqual(segc_exec(envs[1].pool, &op, &envs[1].ws), 0)
            }
        } } }
        XCTAssertEqual(y.map { UInt32($0) }, want)
    }
}
