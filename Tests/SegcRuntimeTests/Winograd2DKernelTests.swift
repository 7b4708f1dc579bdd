import CSegcKernels
import XCTest

/// The 2-D Winograd paths of segc_conv2d, F(4x4,3x3) and F(2x2,3x3) on small planes (dense 3x3 stride-1 convs with at least
/// 16 input and output channels and 64 output tiles, not exact) against the naive direct conv, at every kernel
/// level the CPU has; 1, 2 and 3 threads bit-identical. Tolerance: 1e-4·max|ref| (the
/// issue allows 5e-4; the worst case seen is printed).
final class Winograd2DKernelTests: XCTestCase {
    /// A pool plus a workspace sized by the kernel's own ws functions.
    final class Env {
        let pool: OpaquePointer
        let threads: Int
        let buf: UnsafeMutablePointer<Float>
        var ws: segc_ws
        init(threads: Int, perThread: Int, shared: Int) {
            self.threads = threads
            pool = segc_pool_create(Int32(threads))!
            let n = perThread * threads + shared
            buf = .allocate(capacity: n)
            buf.initialize(repeating: .nan, count: n)   // stale NaNs must never reach the output
            ws = segc_ws(base: buf, per_thread: Int64(perThread), threads: Int32(threads),
                         shared: buf + perThread * threads, shared_count: Int64(shared))
        }
        deinit { segc_pool_destroy(pool); buf.deallocate() }
    }

    func run(_ c: ConvCase, threads: Int, x: [Float], w: [Float], bias: [Float], res: [Float]?, slope: [Float],
             oh: Int, ow: Int, inPlace: Bool) -> [Float] {
        var p = params(c, oh: oh, ow: ow)
        let env = Env(threads: threads, perThread: Int(segc_conv2d_ws(&p)), shared: Int(segc_conv2d_ws_shared(&p)))
        let b: [Float]? = c.bias ? bias : nil
        let sl: [Float]? = c.act == 2 ? slope : nil
        if inPlace, let res {
            var y = res
            let rc = y.withUnsafeMutableBufferPointer { yb in
                segc_conv2d(env.pool, &p, x, w, b, UnsafePointer(yb.baseAddress), sl, yb.baseAddress, &env.ws)
            }
            XCTAssertEqual(rc, 0)
            return y
        }
        var y = [Float](repeating: .nan, count: c.cout * oh * ow)
        XCTAssertEqual(segc_conv2d(env.pool, &p, x, w, b, res, sl, &y, &env.ws), 0)
        return y
    }

    func check(_ c: ConvCase, seed: UInt64, inPlace: Bool = false) -> Float {
        var r = Rng(seed)
        let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * c.cin * 9)
        let bias = r.floats(c.cout), slope = r.floats(c.cout)
        let oh = c.h + c.pt + c.pb - 2 * c.dh, ow = c.w + c.pl + c.pr - 2 * c.dw
        let res: [Float]? = c.residual ? r.floats(c.cout * oh * ow) : nil
        let (want, _, _) = naiveConv(c, x: x, w: w, bias: bias, res: res, slope: slope)
        // The path taken: im2col's shared workspace is the packed weights, Winograd's the packed U[ξ].
        var p = params(c, oh: oh, ow: ow)
        XCTAssertNotEqual(segc_conv2d_ws_shared(&p), Int64((c.cout + 12) * c.cin * 9), "not the Winograd path: \(c)")
        // Never in exact mode (position-dependent rounding): im2col's packed weights there.
        p.exact = 1
        XCTAssertEqual(segc_conv2d_ws_shared(&p), Int64((c.cout + 12) * c.cin * 9), "Winograd in exact mode: \(c)")
        var maxRef: Float = 0
        for v in want { maxRef = max(maxRef, abs(v)) }
        var worst: Float = 0
        let top = segc_detected_cpu_level()
        defer { _ = segc_set_cpu_level(top) }
        for level in 0...top {
            _ = segc_set_cpu_level(level)
            let y1 = run(c, threads: 1, x: x, w: w, bias: bias, res: res, slope: slope, oh: oh, ow: ow, inPlace: inPlace)
            let y2 = run(c, threads: 2, x: x, w: w, bias: bias, res: res, slope: slope, oh: oh, ow: ow, inPlace: inPlace)
            let y3 = run(c, threads: 3, x: x, w: w, bias: bias, res: res, slope: slope, oh: oh, ow: ow, inPlace: inPlace)
            let (d, at) = maxAbsDiffK(y1, want)
            let rel = d / max(maxRef, 1e-30)
            worst = max(worst, rel)
            XCTAssertLessThanOrEqual(rel, 1e-4, "level \(level) \(c): max|diff| \(d) at \(at), max|ref| \(maxRef)")
            XCTAssertEqual(y1, y2, "level \(level): 1 vs 2 threads not bit-identical: \(c)")
            XCTAssertEqual(y1, y3, "level \(level): 1 vs 3 threads not bit-identical: \(c)")
        }
        return worst
    }

    func maxAbsDiffK(_ a: [Float], _ b: [Float]) -> (Float, Int) {
        var m: Float = 0, at = -1
        for i in a.indices { let d = abs(a[i] - b[i]); if !(d <= m) { m = d; at = i } }
        return (m, at)
    }

    func testRandomShapes() {
        var r = Rng(2024)
        var worst: Float = 0
        for i in 0..<12 {
            var c = ConvCase(cin: r.int(16...40), h: r.int(32...45), w: r.int(32...61), cout: r.int(16...40), kh: 3, kw: 3,
                             sh: 1, sw: 1, pt: r.int(0...2), pl: r.int(0...2), pb: r.int(0...2), pr: r.int(0...2),
                             dh: 1, dw: 1, groups: 1)
            c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : c.cout
            c.bias = r.int(0...3) > 0; c.residual = r.int(0...1) == 1
            worst = max(worst, check(c, seed: UInt64(i), inPlace: c.residual && r.int(0...1) == 1))
        }
        print("[wino2d] random shapes: worst max|diff| / max|ref| = \(worst)")
    }

    func testNamedCases() {
        let cases: [(ConvCase, Bool)] = [
            // BiSeNet-like 64 channels, ragged plane (several chunks, partial tile rows and columns), relu.
            (ConvCase(cin: 64, h: 37, w: 45, cout: 64, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 1), false),
            // Residual aliasing y, prelu per channel, chunks of 48 tiles (cin > 64).
            (ConvCase(cin: 72, h: 30, w: 50, cout: 40, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 2, nslope: 40, residual: true), true),
            // Few tiles, many output channels: the output channels split across tasks (5 blocks of 48,
            // the last ragged), no bias, shared prelu slope.
            (ConvCase(cin: 24, h: 33, w: 35, cout: 236, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 2, nslope: 1, bias: false, residual: true), false),
            // No padding, asymmetric padding.
            (ConvCase(cin: 16, h: 34, w: 33, cout: 17, kh: 3, kw: 3, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0,
                      dh: 1, dw: 1, groups: 1), false),
            // U over the shared-workspace cap: the output channels in two passes.
            (ConvCase(cin: 700, h: 32, w: 33, cout: 200, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 1, residual: true), true),
            (ConvCase(cin: 19, h: 29, w: 30, cout: 33, kh: 3, kw: 3, sh: 1, sw: 1, pt: 2, pl: 0, pb: 0, pr: 2,
                      dh: 1, dw: 1, groups: 1, act: 1, residual: true), false),
        ]
        var worst: Float = 0
        for (i, (c, inPlace)) in cases.enumerated() { worst = max(worst, check(c, seed: UInt64(300 + i), inPlace: inPlace)) }
        print("[wino2d] named cases: worst max|diff| / max|ref| = \(worst)")
    }

    /// Dilated 3x3 convs (same padding, d = 2..8) through the mosaic of their polyphase sub-planes
    /// (conv/conv2d_dilated.c) into F(4x4) or F(2x2): ENet's 32-channel 64x128 stage at d = 2, 4, 8
    /// (the d = 8 mosaic is 73x137), residual aliasing y, both activations, no bias; d = 16 and
    /// unequal dilations stay on im2col (the check would fail: it asserts the Winograd workspace).
    func testDilatedThroughMosaic() {
        func dilated(_ cin: Int, _ h: Int, _ w: Int, _ cout: Int, _ d: Int) -> ConvCase {
            ConvCase(cin: cin, h: h, w: w, cout: cout, kh: 3, kw: 3, sh: 1, sw: 1, pt: d, pl: d, pb: d, pr: d,
                     dh: d, dw: d, groups: 1)
        }
        var cases: [(ConvCase, Bool)] = []
        var c = dilated(32, 64, 128, 32, 2); c.act = 2; c.nslope = 32; cases.append((c, false))
        c = dilated(32, 64, 128, 32, 4); c.act = 2; c.nslope = 1; c.residual = true; cases.append((c, true))
        c = dilated(32, 64, 128, 32, 8); c.act = 1; c.bias = false; cases.append((c, false))
        c = dilated(24, 48, 40, 20, 2); c.residual = true; cases.append((c, false))
        c = dilated(16, 30, 42, 17, 3); c.act = 1; cases.append((c, false))
        var worst: Float = 0
        for (i, (c, inPlace)) in cases.enumerated() {
            var p = params(c, oh: c.h, ow: c.w)
            XCTAssertEqual(segc_conv2d_tail_supported(&p), 0, "the mosaic path has no tail: \(c)")
            worst = max(worst, check(c, seed: UInt64(500 + i), inPlace: inPlace))
        }
        var p = params(dilated(32, 64, 128, 32, 16), oh: 64, ow: 128)
        XCTAssertEqual(segc_conv2d_ws_shared(&p), Int64((32 + 12) * 32 * 9), "d = 16 should stay on im2col")
        print("[wino2d] dilated through the mosaic: worst max|diff| / max|ref| = \(worst)")
    }

    /// F(2x2,3x3) on small planes (48-128 tiles of 2x2): BiSeNetV1's 512-channel stage at 16x32
    /// (128 tiles), ragged planes with odd sizes (partial tiles in both directions),
    /// residual aliasing y, both activations, no bias.
    func testSmallPlanesF2() {
        let cases: [(ConvCase, Bool)] = [
            (ConvCase(cin: 48, h: 16, w: 32, cout: 52, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 1), false),
            (ConvCase(cin: 37, h: 13, w: 17, cout: 100, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 2, pb: 0, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 2, nslope: 100, residual: true), true),
            (ConvCase(cin: 16, h: 17, w: 15, cout: 16, kh: 3, kw: 3, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0,
                      dh: 1, dw: 1, groups: 1, act: 2, nslope: 1, bias: false, residual: true), false),
            (ConvCase(cin: 200, h: 11, w: 21, cout: 120, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                      dh: 1, dw: 1, groups: 1, act: 0, residual: true), false),
        ]
        var worst: Float = 0
        for (i, (c, inPlace)) in cases.enumerated() {
            let oh = c.h + c.pt + c.pb - 2 * c.dh, ow = c.w + c.pl + c.pr - 2 * c.dw
            let tiles = ((oh + 1) / 2) * ((ow + 1) / 2)
            XCTAssert((48...128).contains(tiles), "case \(i): \(tiles) tiles, not F(2x2)'s range")
            worst = max(worst, check(c, seed: UInt64(400 + i), inPlace: inPlace))
        }
        print("[wino2d] F(2x2) small planes: worst max|diff| / max|ref| = \(worst)")
    }
}
