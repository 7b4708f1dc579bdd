import CSegcKernels
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Timing of the int8 conv on ERFNet's shapes (input 512x1024) against segc's fp32 conv
/// with the same geometry at the same level: 2 threads (SEGC_QTIMING_THREADS), median of 9
/// runs, fp32 and int8 alternating; the ratio of the fastest runs too, which load from other
/// processes disturbs least. Printed, never asserted (the machine is shared). The scalar
/// level only with SEGC_QTIMING_SCALAR=1. Runs only with SEGC_QTIMING=1.
final class QuantConvTimingTests: XCTestCase {
    struct Shape {
        var name: String
        var c: QConvCase
        var layers: Int   // how many ERFNet layers have it
    }

    func shapes() -> [Shape] {
        func conv(_ name: String, _ cin: Int, _ h: Int, _ w: Int, _ cout: Int, _ kh: Int, _ kw: Int, _ s: Int,
                  _ pt: Int, _ pl: Int, _ dh: Int, _ dw: Int, _ layers: Int, residual: Bool = false) -> Shape {
            var c = QConvCase(cin: cin, h: h, w: w, cout: cout, oh: (h + 2 * pt - dh * (kh - 1) - 1) / s + 1,
                              ow: (w + 2 * pl - dw * (kw - 1) - 1) / s + 1, kh: kh, kw: kw, sh: s, sw: s, pt: pt,
                              pl: pl, dh: dh, dw: dw, groups: 1)
            c.act = 1; c.xzp = 3; c.yzp = 0; c.residual = residual; c.rzp = 5
            return Shape(name: name, c: c, layers: layers)
        }
        func convt(_ name: String, _ cin: Int, _ h: Int, _ w: Int, _ cout: Int, _ k: Int, _ pad: Int, _ op: Int,
                   f32: Bool) -> Shape {
            var c = QConvCase(cin: cin, h: h, w: w, cout: cout, oh: (h - 1) * 2 - 2 * pad + k + op,
                              ow: (w - 1) * 2 - 2 * pad + k + op, kh: k, kw: k, sh: 2, sw: 2, pt: pad, pl: pad, dh: 1,
                              dw: 1, groups: 1)
            c.transposed = true; c.act = f32 ? 0 : 1; c.outF32 = f32; c.xzp = 3
            return Shape(name: name, c: c, layers: 1)
        }
        // non_bottleneck_1d: 3x1 (relu), 1x3 (relu), 3x1 dilated (relu), 1x3 dilated (+input, relu).
        var list = [
            conv("3x1 64->64 @128x256", 64, 128, 256, 64, 3, 1, 1, 1, 0, 1, 1, 14),
            conv("1x3 64->64 @128x256", 64, 128, 256, 64, 1, 3, 1, 0, 1, 1, 1, 7),
            conv("1x3 64->64 @128x256 +res", 64, 128, 256, 64, 1, 3, 1, 0, 1, 1, 1, 7, residual: true),
            conv("3x1 128->128 @64x128", 128, 64, 128, 128, 3, 1, 1, 1, 0, 1, 1, 8),
            conv("1x3 128->128 @64x128", 128, 64, 128, 128, 1, 3, 1, 0, 1, 1, 1, 8),
        ]
        for d in [2, 4, 8, 16] {
            list.append(conv("3x1 128->128 @64x128 d\(d)", 128, 64, 128, 128, 3, 1, 1, d, 0, d, 1, 2))
            list.append(conv("1x3 128->128 @64x128 d\(d) +res", 128, 64, 128, 128, 1, 3, 1, 0, d, 1, d, 2, residual: true))
        }
        return list + [
            conv("3x1 16->16 @256x512", 16, 256, 512, 16, 3, 1, 1, 1, 0, 1, 1, 4),
            conv("1x3 16->16 @256x512", 16, 256, 512, 16, 1, 3, 1, 0, 1, 1, 1, 2),
            conv("1x3 16->16 @256x512 +res", 16, 256, 512, 16, 1, 3, 1, 0, 1, 1, 1, 2, residual: true),
            conv("3x3/2 3->13 @512x1024", 3, 512, 1024, 13, 3, 3, 2, 1, 1, 1, 1, 1),
            conv("3x3/2 16->48 @256x512", 16, 256, 512, 48, 3, 3, 2, 1, 1, 1, 1, 1),
            conv("3x3/2 64->64 @128x256", 64, 128, 256, 64, 3, 3, 2, 1, 1, 1, 1, 1),
            convt("T3x3/2 128->64 @64x128", 128, 64, 128, 64, 3, 1, 1, f32: false),
            convt("T3x3/2 64->16 @128x256", 64, 128, 256, 16, 3, 1, 1, f32: false),
            convt("T2x2/2 16->20 @256x512 f32", 16, 256, 512, 20, 2, 0, 0, f32: true),
        ]
    }

    func seconds(_ body: () -> Void) -> Double {
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        body()
        clock_gettime(CLOCK_MONOTONIC, &t1)
        return Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9
    }

    func testERFNetShapes() throws {
        // A measurement, not a check: only on request (the suite stays fast on 2 cores).
        try XCTSkipUnless(ProcessInfo.processInfo.environment["SEGC_QTIMING"] == "1", "set SEGC_QTIMING=1 to time the int8 convs")
        let threads = Int(ProcessInfo.processInfo.environment["SEGC_QTIMING_THREADS"] ?? "") ?? 2, runs = 9
        let pool = segc_pool_create(Int32(threads))!
        defer { segc_pool_destroy(pool) }
        var levels = Array(1...max(1, segc_detected_cpu_level()))
        if segc_detected_cpu_level() == 0 || ProcessInfo.processInfo.environment["SEGC_QTIMING_SCALAR"] == "1" {
            levels.insert(0, at: 0)
        }
        var r = Rng(77)
        var lines = ["| shape | layers | level | fp32 ms | int8 ms | fp32/int8 | fp32/int8 (min of runs) |", "|---|---|---|---|---|---|---|"]
        var totals = [Int32: (Double, Double)]()
        for s in shapes() {
            let c = s.c
            let d = QConvData(c, &r)
            let wf = (0..<c.wcount).map { _ in r.float() * 0.1 }, bf = r.floats(c.cout)
            let xf = (0..<(c.cin * c.h * c.w)).map { _ in r.float() }
            let resf: [Float]? = c.residual ? r.floats(c.ycount) : nil
            var fp = segc_conv_params()
            fp.cin = Int64(c.cin); fp.h = Int64(c.h); fp.w = Int64(c.w); fp.cout = Int64(c.cout)
            fp.oh = Int64(c.oh); fp.ow = Int64(c.ow); fp.kh = Int64(c.kh); fp.kw = Int64(c.kw)
            fp.sh = Int64(c.sh); fp.sw = Int64(c.sw); fp.pt = Int64(c.pt); fp.pl = Int64(c.pl)
            fp.dh = Int64(c.dh); fp.dw = Int64(c.dw); fp.groups = 1; fp.act = c.act; fp.exact = 0; fp.nslope = 1
            for level in levels {
                XCTAssertEqual(segc_set_cpu_level(level), level)
                var qp = c.params
                let tr: Int32 = c.transposed ? 1 : 0
                let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(segc_qconv_packed_bytes(&qp, tr)), alignment: 64)
                defer { packed.deallocate() }
                XCTAssertEqual(segc_qconv_pack(&qp, tr, d.w, d.bias, packed), 0)
                var fpacked = [Float](repeating: 0, count: c.transposed ? Int(max(1, segc_convt_packed_size(&fp))) : 1)
                if c.transposed { XCTAssertEqual(segc_convt_pack(&fp, wf, &fpacked), 0) }
                let perThread = max(segc_qconv_ws(&qp, tr), c.transposed ? segc_convt_ws(&fp) : segc_conv2d_ws(&fp))
                let shared = c.transposed ? 0 : segc_conv2d_ws_shared(&fp)
                let total = Int(perThread) * threads + Int(shared) + 16
                let buf = UnsafeMutablePointer<Float>.allocate(capacity: total)
                buf.initialize(repeating: 0, count: total)
                defer { buf.deallocate() }
                var ws = segc_ws(base: buf, per_thread: perThread, threads: Int32(threads),
                                 shared: buf + Int(perThread) * threads, shared_count: shared)
                var yf = [Float](repeating: 0, count: c.ycount)
                var yq = [UInt8](repeating: 0, count: c.outF32 ? c.ycount * 4 : c.ycount)
                let res: [UInt8]? = c.residual ? d.res : nil
                // fp32 and int8 runs alternate, so load from elsewhere on the machine hits both alike.
                var tfs: [Double] = [], tqs: [Double] = []
                for run in 0...runs {
                    let f = seconds {
                        let rc = c.transposed ? segc_conv_transpose2d(pool, &fp, xf, fpacked, bf, resf, nil, &yf, &ws)
                                              : segc_conv2d(pool, &fp, xf, wf, bf, resf, nil, &yf, &ws)
                        XCTAssertEqual(rc, 0)
                    }
                    let q = seconds {
                        XCTAssertEqual(segc_qconv2d(pool, &qp, tr, d.x, packed, d.mult, res, nil, &yq, &ws), 0)
                    }
                    if run > 0 { tfs.append(f); tqs.append(q) }   // run 0 warms up
                }
                let tf = tfs.sorted()[runs / 2], tq = tqs.sorted()[runs / 2]
                let minRatio = tfs.min()! / tqs.min()!
                let name = ["scalar", "avx2", "avx512"][Int(level)]
                lines.append(String(format: "| %@ | %d | %@ | %.2f | %.2f | %.2fx | %.2fx |", s.name, s.layers, name, tf * 1e3, tq * 1e3,
                                    tf / tq, minRatio))
                let t = totals[level] ?? (0, 0)
                totals[level] = (t.0 + tf * Double(s.layers), t.1 + tq * Double(s.layers))
            }
        }
        for level in levels {
            let t = totals[level]!
            lines.append(String(format: "| all ERFNet convs (sum × layers) | | %@ | %.1f | %.1f | %.2fx | |",
                                ["scalar", "avx2", "avx512"][Int(level)], t.0 * 1e3, t.1 * 1e3, t.0 / t.1))
        }
        print(lines.joined(separator: "\n"))
        _ = segc_set_cpu_level(segc_detected_cpu_level())
    }
}
