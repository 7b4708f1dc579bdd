import CSegcKernels
import XCTest

/// segc's GEMM and the exact conv path at every kernel level the CPU has (issue 13):
/// bit-for-bit against a Swift oracle with the contract's arithmetic (k-ordered chain,
/// fused or multiply-then-add), so results cannot depend on position, tile or level.
final class GemmKernelTests: XCTestCase {
    var levels: [Int32] { Array(0...segc_detected_cpu_level()) }

    override func tearDown() { _ = segc_set_cpu_level(segc_detected_cpu_level()) }

    /// C = init + Σ_k A[m][k]·B[k][n], k in order, one rounding per step.
    func oracle(m: Int, n: Int, k: Int, a: [Float], b: [Float], c0: [Float]?, fused: Bool) -> [Float] {
        var c = c0 ?? [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var acc = c[i * n + j]
                for kk in 0..<k {
                    acc = fused ? acc.addingProduct(a[i * k + kk], b[kk * n + j]) : acc + a[i * k + kk] * b[kk * n + j]
                }
                c[i * n + j] = acc
            }
        }
        return c
    }

    func testSgemmIsTheOraclesChainBitForBitAtEveryLevel() {
        var r = Rng(13)
        var cases: [(Int, Int, Int)] = [(1, 1, 1), (8, 32, 128), (9, 33, 129), (16, 300, 260), (64, 257, 144), (3, 5, 0),
                                      (24, 256, 200), (40, 512, 70)]   // ldb a multiple of 1 KiB
        for _ in 0..<24 { cases.append((r.int(1...40), r.int(1...300), r.int(1...300))) }
        for level in levels {
            XCTAssertEqual(segc_set_cpu_level(level), level)
            for (m, n, k) in cases {
                let a = r.floats(m * k), b = r.floats(k * n), c0 = r.floats(m * n)
                var scratch = [Float](repeating: .nan, count: Int(segc_sgemm_scratch(Int64(m), Int64(k))))
                for accumulate in [false, true] {
                    for exact in [false, true] {
                        var c = accumulate ? c0 : [Float](repeating: .nan, count: m * n)
                        segc_sgemm(Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(n), &c, Int64(n),
                                   accumulate ? 1 : 0, exact ? 1 : 0, &scratch)
                        let fused = !exact && level > 0
                        let want = oracle(m: m, n: n, k: k, a: a, b: b, c0: accumulate ? c0 : nil, fused: fused)
                        XCTAssertTrue(c.elementsEqual(want) { $0.bitPattern == $1.bitPattern || ($0 == 0 && $1 == 0) },
                                      "level \(level) m \(m) n \(n) k \(k) accumulate \(accumulate) exact \(exact)")
                    }
                }
            }
        }
    }

    /// Equal input columns anywhere in B (edge tiles, second NC block) give equal bits.
    func testEqualColumnsGiveEqualOutputsAnywhere() {
        var r = Rng(7)
        let m = 13, n = 531, k = 200
        let a = r.floats(m * k)
        let column = r.floats(k)
        var b = r.floats(k * n)
        let positions = [0, 31, 32, 255, 256, 287, 500, 530]
        for j in positions { for kk in 0..<k { b[kk * n + j] = column[kk] } }
        for level in levels {
            _ = segc_set_cpu_level(level)
            var scratch = [Float](repeating: 0, count: Int(segc_sgemm_scratch(Int64(m), Int64(k))))
            for exact: Int32 in [0, 1] {
                var c = [Float](repeating: 0, count: m * n)
                segc_sgemm(Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(n), &c, Int64(n), 0, exact, &scratch)
                for i in 0..<m {
                    let v = c[i * n + positions[0]]
                    for j in positions { XCTAssertEqual(c[i * n + j].bitPattern, v.bitPattern, "level \(level) row \(i) col \(j)") }
                }
            }
        }
    }

    /// The exact conv path (`PlanAlgorithm.exact`) is the reference interpreter's
    /// arithmetic: ((Σ over (ci, ky, kx) from 0) + bias) + residual, then the
    /// activation — the same bits at every level, residual in place included.
    func testExactConvIsReferenceArithmeticAtEveryLevel() {
        var r = Rng(2026)
        let env = KernelEnv(threads: 2)
        for trial in 0..<18 {
            var c = ConvCase(cin: r.int(4...12), h: r.int(5...20), w: r.int(5...40), cout: r.int(1...20),
                             kh: r.int(2...3), kw: r.int(2...3), sh: r.int(1...2), sw: r.int(1...2),
                             pt: r.int(0...1), pl: r.int(0...1), pb: r.int(0...1), pr: r.int(0...1),
                             dh: 1, dw: r.int(1...2), groups: 1, act: Int32(r.int(0...2)), nslope: 1, bias: true,
                             residual: trial % 2 == 1)
            if trial >= 12 {
                // ENet's shapes: wide rows, stride 1 (the direct path's register blocks), 1x1 and 3x3.
                (c.cin, c.w, c.sh, c.sw, c.dw) = (trial % 3 == 0 ? 16 : 3, r.int(37...90), 1, 1, 1)
                (c.kh, c.kw) = trial % 3 == 0 ? (1, 1) : (3, 3)
                (c.pt, c.pl, c.pb, c.pr) = trial % 3 == 0 ? (0, 0, 0, 0) : (1, 1, 1, 1)
            }
            let oh = (c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1
            let ow = (c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1
            let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * c.cin * c.kh * c.kw)
            let bias = r.floats(c.cout), slope = r.floats(1), res = r.floats(c.cout * oh * ow)
            var want = [Float](repeating: 0, count: c.cout * oh * ow)
            for co in 0..<c.cout { for oy in 0..<oh { for ox in 0..<ow {
                var s: Float = 0
                for ci in 0..<c.cin { for ky in 0..<c.kh { for kx in 0..<c.kw {
                    let iy = oy * c.sh - c.pt + ky * c.dh, ix = ox * c.sw - c.pl + kx * c.dw
                    if iy < 0 || iy >= c.h || ix < 0 || ix >= c.w { continue }
                    s = s + w[((co * c.cin + ci) * c.kh + ky) * c.kw + kx] * x[(ci * c.h + iy) * c.w + ix]
                } } }
                let o = (co * oh + oy) * ow + ox
                s = s + bias[co]
                if c.residual { s = s + res[o] }
                if c.act == 1 { s = s > 0 ? s : 0 }
                if c.act == 2 { s = s > 0 ? s : s * slope[0] }
                want[o] = s
            } } }
            var p = params(c, oh: oh, ow: ow)
            p.exact = 1
            XCTAssertLessThanOrEqual(segc_conv2d_ws(&p), Int64(KernelEnv.perThread))
            for level in levels {
                _ = segc_set_cpu_level(level)
                // Residual in place: y starts as the residual.
                var y = c.residual ? res : [Float](repeating: .nan, count: want.count)
                let rc = y.withUnsafeMutableBufferPointer { yb in
                    segc_conv2d(env.pool, &p, x, w, bias, c.residual ? UnsafePointer(yb.baseAddress) : nil,
                                c.act == 2 ? slope : nil, yb.baseAddress, &env.ws)
                }
                XCTAssertEqual(rc, 0)
                XCTAssertTrue(y.elementsEqual(want) { $0.bitPattern == $1.bitPattern || ($0 == 0 && $1 == 0) },
                              "trial \(trial) level \(level) \(c)")
            }
        }
    }
}

/// 1-D Winograd F(4,3) (ERFNet's 3x1 convs; 1x3 where enabled) against the naive conv
/// at every level: dilations 1–16, planes that are not multiples of the 4·d tile block,
/// residual in place, activations. Tolerance 1e-4·max(1, max|ref|).
final class WinogradConvTests: XCTestCase {
    override func tearDown() { _ = segc_set_cpu_level(segc_detected_cpu_level()) }

    func testWinogradMatchesNaiveConvAtEveryLevel() {
        var r = Rng(43)
        let env = KernelEnv(threads: 3)
        for trial in 0..<16 {
            let vertical = trial % 2 == 0
            let d = [1, 2, 4, 8, 16][r.int(0...4)]
            // At least 32 channels: fewer take the GEMM paths (segc_conv1d_winograd_applies).
            var c = ConvCase(cin: r.int(32...40), h: r.int(5...70), w: r.int(5...70), cout: r.int(32...36),
                             kh: vertical ? 3 : 1, kw: vertical ? 1 : 3, sh: 1, sw: 1,
                             pt: vertical ? d : 0, pl: vertical ? 0 : d, pb: vertical ? d : 0, pr: vertical ? 0 : d,
                             dh: vertical ? d : 1, dw: vertical ? 1 : d, groups: 1)
            c.act = Int32(r.int(0...2)); c.nslope = c.cout; c.residual = trial % 3 == 0
            let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * c.cin * 3)
            let bias = r.floats(c.cout), slope = r.floats(c.cout)
            let res: [Float]? = c.residual ? r.floats(c.cout * c.h * c.w) : nil
            let (want, oh, ow) = naiveConv(c, x: x, w: w, bias: bias, res: res, slope: slope)
            let tol = 1e-4 * max(1, want.map { abs($0) }.max() ?? 0)
            var p = params(c, oh: oh, ow: ow)
            XCTAssertLessThanOrEqual(segc_conv2d_ws(&p), Int64(KernelEnv.perThread))
            XCTAssertLessThanOrEqual(segc_conv2d_ws_shared(&p), Int64(KernelEnv.shared))
            for level in 0...segc_detected_cpu_level() {
                _ = segc_set_cpu_level(level)
                var y = res ?? [Float](repeating: .nan, count: want.count)   // residual in place
                let rc = y.withUnsafeMutableBufferPointer { yb in
                    segc_conv2d(env.pool, &p, x, w, bias, res == nil ? nil : UnsafePointer(yb.baseAddress),
                                c.act == 2 ? slope : nil, yb.baseAddress, &env.ws)
                }
                XCTAssertEqual(rc, 0)
                var worst: Float = 0
                for i in want.indices { worst = max(worst, abs(y[i] - want[i])) }
                XCTAssertLessThanOrEqual(worst, tol, "trial \(trial) level \(level) \(vertical ? "3x1" : "1x3") d \(d) \(c.h)x\(c.w)")
            }
        }
    }
}

/// Small planes with many output channels split the output channels across tasks: the
/// result equals the naive conv and is bit-identical for 1, 2 and 3 threads, exact or not.
final class ChannelSplitConvTests: XCTestCase {
    func testChannelSplitMatchesNaiveAndIsThreadIndependent() {
        var r = Rng(96)
        for (cout, residual, exact) in [(130, false, false), (96, true, false), (200, true, true), (121, false, true)] {
            var c = ConvCase(cin: 20, h: 6, w: 7, cout: cout, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                             dh: 1, dw: 1, groups: 1)
            c.act = 1; c.residual = residual
            let x = r.floats(c.cin * c.h * c.w), w = r.floats(cout * c.cin * 9), bias = r.floats(cout)
            let res: [Float]? = residual ? r.floats(cout * 42) : nil
            let (want, oh, ow) = naiveConv(c, x: x, w: w, bias: bias, res: res, slope: [])
            var p = params(c, oh: oh, ow: ow)
            p.exact = exact ? 1 : 0
            var outs: [[Float]] = []
            for threads in [1, 2, 3] {
                let env = KernelEnv(threads: threads)
                var y = res ?? [Float](repeating: .nan, count: want.count)
                let rc = y.withUnsafeMutableBufferPointer { yb in
                    segc_conv2d(env.pool, &p, x, w, bias, res == nil ? nil : UnsafePointer(yb.baseAddress), nil, yb.baseAddress, &env.ws)
                }
                XCTAssertEqual(rc, 0)
                var worst: Float = 0
                for i in want.indices { worst = max(worst, abs(y[i] - want[i])) }
                XCTAssertLessThanOrEqual(worst, 1e-4, "cout \(cout) threads \(threads)")
                outs.append(y)
            }
            XCTAssertTrue(outs.allSatisfy { $0.elementsEqual(outs[0]) { $0.bitPattern == $1.bitPattern } }, "cout \(cout): thread counts differ")
        }
    }
}
