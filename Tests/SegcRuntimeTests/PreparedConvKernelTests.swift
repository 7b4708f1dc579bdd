import CSegcKernels
import XCTest

/// `segc_conv2d_prepare`: a conv with its weights prepared once gives the same bits as the
/// conv that transforms them per call, on every path that prepares (F(2x2) and F(4x4)
/// Winograd, 1-D Winograd 3x1 / 1x3, vertical, im2col GEMM, exact and grouped), at every
/// kernel level, and needs less shared workspace. Data prepared at another level is not
/// used (the call takes its unprepared path).
final class PreparedConvKernelTests: XCTestCase {
    override func tearDown() { _ = segc_set_cpu_level(segc_detected_cpu_level()) }

    /// Runs the conv with a workspace sized for `p` (prepared or not), 2 threads.
    func run(_ p: segc_conv_params, x: [Float], w: [Float], bias: [Float], res: [Float]?) -> ([Float], Int32) {
        var p = p
        let threads = 2, per = Int(segc_conv2d_ws(&p)), shared = Int(segc_conv2d_ws_shared(&p))
        let pool = segc_pool_create(Int32(threads))!
        defer { segc_pool_destroy(pool) }
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: per * threads + shared + 1)
        defer { buf.deallocate() }
        buf.initialize(repeating: .nan, count: per * threads + shared + 1)
        var ws = segc_ws(base: buf, per_thread: Int64(per), threads: Int32(threads), shared: buf + per * threads,
                         shared_count: Int64(shared))
        var y = [Float](repeating: .nan, count: Int(p.cout * p.oh * p.ow))
        let rc = segc_conv2d(pool, &p, x, w, bias, res, nil, &y, &ws)
        return (y, rc)
    }

    func testPreparedEqualsPerCallOnEveryPathAndLevel() {
        let cases: [(String, ConvCase, Bool)] = [
            ("F(2x2)", ConvCase(cin: 40, h: 16, w: 32, cout: 48, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                                dh: 1, dw: 1, groups: 1, act: 1, residual: true), false),
            ("F(4x4)", ConvCase(cin: 24, h: 40, w: 44, cout: 30, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                                dh: 1, dw: 1, groups: 1, act: 1), false),
            ("3x1 Winograd", ConvCase(cin: 32, h: 30, w: 20, cout: 40, kh: 3, kw: 1, sh: 1, sw: 1, pt: 2, pl: 0, pb: 2, pr: 0,
                                      dh: 2, dw: 1, groups: 1, act: 1), false),
            ("1x3 Winograd", ConvCase(cin: 36, h: 20, w: 33, cout: 32, kh: 1, kw: 3, sh: 1, sw: 1, pt: 0, pl: 1, pb: 0, pr: 1,
                                      dh: 1, dw: 1, groups: 1, act: 0, residual: true), false),
            ("vertical", ConvCase(cin: 16, h: 24, w: 20, cout: 16, kh: 3, kw: 1, sh: 1, sw: 1, pt: 1, pl: 0, pb: 1, pr: 0,
                                  dh: 1, dw: 1, groups: 1, act: 1), false),
            ("im2col 3x3/2", ConvCase(cin: 16, h: 31, w: 29, cout: 48, kh: 3, kw: 3, sh: 2, sw: 2, pt: 1, pl: 1, pb: 1, pr: 1,
                                      dh: 1, dw: 1, groups: 1, act: 1), false),
            ("im2col grouped", ConvCase(cin: 12, h: 17, w: 19, cout: 18, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1,
                                        dh: 1, dw: 1, groups: 3, act: 0), false),
            ("im2col exact", ConvCase(cin: 16, h: 21, w: 23, cout: 64, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0, pb: 0, pr: 0,
                                      dh: 1, dw: 1, groups: 1, act: 1, residual: true), true),
        ]
        var r = Rng(77)
        for level in 0...segc_detected_cpu_level() {
            XCTAssertEqual(segc_set_cpu_level(level), level)
            for (name, c, exact) in cases {
                let oh = (c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1
                let ow = (c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1
                var p = params(c, oh: oh, ow: ow)
                p.exact = exact ? 1 : 0
                let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * (c.cin / c.groups) * c.kh * c.kw)
                let bias = r.floats(c.cout), res: [Float]? = c.residual ? r.floats(c.cout * oh * ow) : nil
                let n = Int(segc_conv2d_prepared_size(&p))
                XCTAssertGreaterThan(n, 16, "\(name): nothing to prepare")
                var prepared = [Float](repeating: .nan, count: n)
                XCTAssertEqual(segc_conv2d_prepare(&p, w, &prepared), 0, name)
                let (plain, rc0) = run(p, x: x, w: w, bias: bias, res: res)
                XCTAssertEqual(rc0, 0, name)
                prepared.withUnsafeBufferPointer { pb in
                    var q = p
                    q.prepared = pb.baseAddress
                    let sharedPlain = segc_conv2d_ws_shared(&p), sharedPrepared = segc_conv2d_ws_shared(&q)
                    XCTAssertLessThan(sharedPrepared, sharedPlain, "\(name): prepared needs as much shared workspace")
                    // The weights must not be read: NaNs in their place.
                    let nanWeights = [Float](repeating: .nan, count: w.count)
                    let (fast, rc1) = run(q, x: x, w: nanWeights, bias: bias, res: res)
                    XCTAssertEqual(rc1, 0, name)
                    XCTAssertEqual(fast.map(\.bitPattern), plain.map(\.bitPattern), "level \(level) \(name): prepared differs")
                    // Prepared at another level: not used (its workspace is too small for the per-call path).
                    if level > 0 {
                        _ = segc_set_cpu_level(level - 1)
                        let (_, rc2) = run(q, x: x, w: w, bias: bias, res: res)
                        XCTAssertEqual(rc2, Int32(SEGC_ENOSPC), "level \(level - 1) used \(name)'s level-\(level) data")
                        _ = segc_set_cpu_level(level)
                    }
                }
            }
        }
    }
}
