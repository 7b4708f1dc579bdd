import XCTest
import CSegcKernels

/// `segc_qconv2d_tail` (an int8 conv's float tail: + a float tensor, ReLU/PReLU, optionally
/// quantized to uint8) against its definition on top of `segc_qconv2d`'s float output, bit
/// for bit: at every level and 1–3 threads, through the tiled path (each task applies it)
/// and, at plain AVX2, the Winograd path's separate pass; out of place and in place on the
/// added tensor. The runtime's `QConvTailFusion` relies on these being the separate ops.
final class QuantConvTailTests: XCTestCase {
    let envs = [KernelEnv(threads: 1), KernelEnv(threads: 2), KernelEnv(threads: 3)]

    override func tearDown() {
        _ = segc_set_cpu_level(segc_detected_cpu_level())
        unsetenv("SEGC_NO_VNNI")
    }

    /// conv → act (the conv's own), then v = a + b, act2(v), q = quantize(v).
    func expected(_ conv: [Float], _ res: [Float], convFirst: Bool, act2: Int32, slope2: [Float], hw: Int,
                  scale: Float, zp: Int32) -> (out: [UInt32], q: [UInt8]) {
        var out = [UInt32](), q = [UInt8]()
        let lo = Float(-zp), hi = Float(255 - zp)
        for i in conv.indices {
            var v = convFirst ? conv[i] + res[i] : res[i] + conv[i]
            if act2 == SEGC_ACT_RELU { v = v > 0 ? v : 0 }
            if act2 == SEGC_ACT_PRELU { let s = slope2[slope2.count == 1 ? 0 : i / hw]; v = v > 0 ? v : v * s }
            out.append(v.bitPattern)
            var r = (v / scale).rounded(.toNearestOrEven)
            r = r > lo ? r : lo
            r = r < hi ? r : hi
            q.append(UInt8(Int32(r) + zp))
        }
        return (out, q)
    }

    func testTailIsTheSeparateOps() throws {
        var r = Rng(2026)
        func conv(_ cin: Int, _ h: Int, _ w: Int, _ cout: Int, kh: Int, kw: Int) -> QConvCase {
            var c = QConvCase(cin: cin, h: h, w: w, cout: cout, oh: h, ow: w, kh: kh, kw: kw, sh: 1, sw: 1,
                              pt: kh / 2, pl: kw / 2, dh: 1, dw: 1, groups: 1)
            c.outF32 = true
            c.act = Int32(r.int(0...2)); c.nslope = r.int(0...1) == 0 ? 1 : cout
            c.xzp = Int32(r.int(0...255))
            return c
        }
        // 1x1 (ENet's bottleneck ends), a 3x1 and a 1x3 that take the Winograd path at plain AVX2.
        let cases = [conv(16, 8, 24, 12, kh: 1, kw: 1), conv(8, 16, 32, 8, kh: 3, kw: 1), conv(12, 4, 64, 6, kh: 1, kw: 3)]
        for (n, c) in cases.enumerated() {
            var p = c.params
            let d = QConvData(c, &r)
            let count = c.ycount, hw = c.oh * c.ow
            let res = (0..<count).map { _ in r.float() * 4 }
            var runs: [(Int32, Bool)] = (0...segc_detected_cpu_level()).map { ($0, false) }
            for level in Int32(1)...max(1, segc_detected_cpu_level()) where segc_detected_cpu_level() >= 1 {
                runs.append((level, true))   // the vpmaddwd kernels (and their Winograd path)
            }
            for (level, noVNNI) in runs {
                if noVNNI { setenv("SEGC_NO_VNNI", "1", 1) } else { unsetenv("SEGC_NO_VNNI") }
                _ = segc_set_cpu_level(level)
                let bytes = segc_qconv_packed_bytes(&p, 0)
                let packed = UnsafeMutableRawPointer.allocate(byteCount: Int(bytes), alignment: 64)
                defer { packed.deallocate() }
                XCTAssertEqual(segc_qconv_pack(&p, 0, d.w, d.bias, packed), 0)
                let slope: [Float]? = c.act == 2 ? d.slope : nil
                for env in envs {
                    var y = [Float](repeating: .nan, count: count)
                    XCTAssertEqual(segc_qconv2d(env.pool, &p, 0, d.x, packed, d.mult, nil, slope, &y, &env.ws), 0)
                    for (act2, convFirst, withQ, inPlace) in [(SEGC_ACT_PRELU, true, true, false), (SEGC_ACT_RELU, false, true, true),
                                                             (SEGC_ACT_PRELU, false, false, true), (SEGC_ACT_RELU, true, false, false)] {
                        let slope2 = act2 == SEGC_ACT_PRELU ? (0..<(r.int(0...1) == 0 ? 1 : c.cout)).map { _ in r.float() } : [0]
                        let scale = 0.01 + abs(r.float()) * 0.05, zp = Int32(r.int(0...255))
                        let want = expected(y, res, convFirst: convFirst, act2: Int32(act2), slope2: slope2, hw: hw,
                                            scale: scale, zp: zp)
                        var conv = [Float](repeating: .nan, count: count), resBuf = res
                        var out = [Float](repeating: .nan, count: count), q = [UInt8](repeating: 0xA5, count: count)
                        let rc = resBuf.withUnsafeMutableBufferPointer { rb in
                            out.withUnsafeMutableBufferPointer { ob in
                                q.withUnsafeMutableBufferPointer { qb in
                                    slope2.withUnsafeBufferPointer { sb in
                                        var t = segc_qconv_tail()
                                        t.res = UnsafePointer(rb.baseAddress)
                                        t.out = inPlace ? rb.baseAddress : ob.baseAddress
                                        t.q = withQ ? qb.baseAddress : nil
                                        t.q_scale = scale; t.q_zp = zp
                                        t.act = Int32(act2); t.conv_first = convFirst ? 1 : 0
                                        t.slope = sb.baseAddress; t.nslope = Int64(slope2.count)
                                        return segc_qconv2d_tail(env.pool, &p, d.x, packed, d.mult, slope, &conv, &t, &env.ws)
                                    }
                                }
                            }
                        }
                        XCTAssertEqual(rc, 0)
                        let got = (inPlace ? resBuf : out).map(\.bitPattern)
                        let what = "case \(n) level \(level)\(noVNNI ? " SEGC_NO_VNNI" : "") threads \(env.threads) act \(act2)"
                        XCTAssertEqual(zip(got, want.out).filter { $0 != $1 }.count, 0, "\(what): float output")
                        XCTAssertEqual(conv.map(\.bitPattern), y.map(\.bitPattern), "\(what): the conv's own output")
                        if withQ { XCTAssertEqual(zip(q, want.q).filter { $0 != $1 }.count, 0, "\(what): uint8 copy") }
                    }
                }
            }
        }
    }

    func testTailRefusesBadArguments() throws {
        var p = QConvCase(cin: 4, h: 4, w: 8, cout: 4, oh: 4, ow: 8, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0,
                          dh: 1, dw: 1, groups: 1).params
        p.out_f32 = 1
        let env = envs[0]
        var t = segc_qconv_tail()
        var y = [Float](repeating: 0, count: 128), res = [Float](repeating: 0, count: 128)
        let x = [UInt8](repeating: 0, count: 128), mult = [Float](repeating: 1, count: 4)
        // No residual, then a bad activation, then a bad quantize scale: EINVAL before anything runs.
        let dummy = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { dummy.deallocate() }
        XCTAssertEqual(segc_qconv2d_tail(env.pool, &p, x, dummy, mult, nil, &y, &t, &env.ws), Int32(SEGC_EINVAL))
        res.withUnsafeMutableBufferPointer { rb in
            t.res = UnsafePointer(rb.baseAddress); t.out = rb.baseAddress; t.act = 7
            XCTAssertEqual(segc_qconv2d_tail(env.pool, &p, x, dummy, mult, nil, &y, &t, &env.ws), Int32(SEGC_EINVAL))
            t.act = Int32(SEGC_ACT_RELU)
            var q = [UInt8](repeating: 0, count: 128)
            q.withUnsafeMutableBufferPointer { qb in
                t.q = qb.baseAddress; t.q_scale = 0
                XCTAssertEqual(segc_qconv2d_tail(env.pool, &p, x, dummy, mult, nil, &y, &t, &env.ws), Int32(SEGC_EINVAL))
            }
        }
    }
}
