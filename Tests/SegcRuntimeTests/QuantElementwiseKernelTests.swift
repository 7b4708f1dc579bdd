import CSegcKernels
import XCTest

/// The uint8 elementwise kernels (quantize, dequantize, per-channel affine, max pool,
/// byte concat) against their definitions written out in Swift, exactly, at every level
/// and for 1 and 3 threads.
final class QuantElementwiseKernelTests: XCTestCase {
    let envs = [KernelEnv(threads: 1), KernelEnv(threads: 3)]
    var levels: [Int32] { Array(0...segc_detected_cpu_level()) }

    override func tearDown() { _ = segc_set_cpu_level(segc_detected_cpu_level()) }

    func roundU8(_ v: Float, _ zp: Int32) -> UInt8 {
        var q = v.rounded(.toNearestOrEven)
        let lo = Float(-zp), hi = Float(255 - zp)
        q = q > lo ? q : lo   // NaN -> lo
        q = q < hi ? q : hi
        return UInt8(Int32(q) + zp)
    }

    func testQuantizeDequantize() {
        var r = Rng(23)
        let n = 200_003
        var x = (0..<n).map { i -> Float in i % 3 == 0 ? Float(r.int(-700...700)) * 0.25 : r.float() * 300 }
        x[1] = .nan; x[2] = .infinity; x[4] = -.infinity; x[5] = -0.0; x[6] = 1e30; x[7] = -1e30
        for (scale, zp) in [(Float(1), Int32(0)), (0.5, 128), (0.0731, 255), (1.7, 3), (0.25, 0)] {
            let want = x.map { roundU8($0 / scale, zp) }
            let u = (0..<n).map { _ in UInt8(r.int(0...255)) }
            let wantD = u.map { Float(Int32($0) - zp) * scale }
            for level in levels {
                _ = segc_set_cpu_level(level)
                for env in envs {
                    var y = [UInt8](repeating: 0xA5, count: n)
                    XCTAssertEqual(segc_quantize_u8(env.pool, Int64(n), scale, zp, x, &y), 0)
                    XCTAssertEqual(y, want, "quantize level \(level) scale \(scale) zp \(zp)")
                    var f = [Float](repeating: .nan, count: n)
                    XCTAssertEqual(segc_dequantize_u8(env.pool, Int64(n), scale, zp, u, &f), 0)
                    XCTAssertEqual(f.map { $0.bitPattern }, wantD.map { $0.bitPattern }, "dequantize level \(level)")
                }
            }
        }
        var y = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(segc_quantize_u8(nil, 4, 0, 0, x, &y), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_quantize_u8(nil, 4, 1, 256, x, &y), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_quantize_u8(nil, 4, .nan, 0, x, &y), Int32(SEGC_EINVAL))
        var f = [Float](repeating: 0, count: 4)
        XCTAssertEqual(segc_dequantize_u8(nil, 4, 1, -1, y, &f), Int32(SEGC_EINVAL))
    }

    /// The range guard's count of one code, exactly, at every level, for lengths around the
    /// kernel's 4096-byte blocks and its task split.
    func testCountU8() {
        var r = Rng(31)
        for n in [1, 31, 4095, 4096, 4097, 65_537, 1_000_003] {
            // Mostly 255 in places, so long runs and block edges are crossed.
            let x = (0..<n).map { i -> UInt8 in (i / 777) % 3 == 0 ? 255 : UInt8(r.int(250...255)) }
            for v: UInt8 in [255, 0, 252] {
                let want = x.reduce(0) { $0 + ($1 == v ? 1 : 0) }
                for level in levels {
                    _ = segc_set_cpu_level(level)
                    for env in envs {
                        XCTAssertEqual(Int(segc_count_u8(env.pool, Int64(n), v, x)), want, "n \(n) v \(v) level \(level)")
                    }
                }
            }
        }
        XCTAssertEqual(segc_count_u8(nil, 0, 255, [255]), 0)
        XCTAssertEqual(segc_count_u8(nil, -5, 255, [255]), 0)
        XCTAssertEqual(segc_count_u8(nil, 4, 255, nil), 0)
    }

    func testAffine() {
        var r = Rng(29)
        for (c, hw) in [(3, 70_001), (17, 333), (1, 1)] {
            let x = (0..<(c * hw)).map { _ in UInt8(r.int(0...255)) }
            let mul = (0..<c).map { _ in r.int(0...2) == 0 ? 0.5 : r.float() * 2 }
            let add = (0..<c).map { _ in r.int(0...2) == 0 ? Float(r.int(-50...50)) + 0.5 : r.float() * 100 }
            for (xzp, yzp, relu) in [(Int32(0), Int32(0), Int32(0)), (128, 7, 1), (255, 255, 0), (3, 128, 1)] {
                var want = [UInt8](repeating: 0, count: c * hw)
                for ch in 0..<c { for i in 0..<hw {
                    var v = Float(Int32(x[ch * hw + i]) - xzp) * mul[ch] + add[ch]
                    if relu == 1 { v = v > 0 ? v : 0 }
                    want[ch * hw + i] = roundU8(v, yzp)
                } }
                for level in levels {
                    _ = segc_set_cpu_level(level)
                    for env in envs {
                        var y = [UInt8](repeating: 0xA5, count: c * hw)
                        XCTAssertEqual(segc_qaffine_u8(env.pool, Int64(c), Int64(hw), xzp, yzp, relu, x, mul, add, &y), 0)
                        XCTAssertEqual(y, want, "affine level \(level) c \(c) zps \(xzp) \(yzp) relu \(relu)")
                    }
                }
            }
        }
    }

    func testMaxPool() {
        var r = Rng(31)
        for trial in 0..<40 {
            var p = segc_pool_params()
            p.c = Int64(r.int(1...5)); p.h = Int64(r.int(1...17)); p.w = Int64(r.int(1...23))
            p.kh = Int64(r.int(1...3)); p.kw = Int64(r.int(1...3)); p.sh = Int64(r.int(1...3)); p.sw = Int64(r.int(1...3))
            p.dh = Int64(r.int(1...2)); p.dw = Int64(r.int(1...2))
            p.pt = Int64(r.int(0...1)); p.pl = Int64(r.int(0...1)); p.pb = p.pt; p.pr = p.pl
            if trial == 0 { p.c = 64; p.h = 128; p.w = 256; p.kh = 2; p.kw = 2; p.sh = 2; p.sw = 2; p.dh = 1; p.dw = 1; p.pt = 0; p.pl = 0; p.pb = 0; p.pr = 0 }
            p.oh = max(1, (p.h + p.pt + p.pb - p.dh * (p.kh - 1) - 1) / p.sh + 1)
            p.ow = max(1, (p.w + p.pl + p.pr - p.dw * (p.kw - 1) - 1) / p.sw + 1)
            let c = Int(p.c), h = Int(p.h), w = Int(p.w), oh = Int(p.oh), ow = Int(p.ow)
            let k = r.int(0...1) == 0 ? 4 : 256   // few levels: ties
            let x = (0..<(c * h * w)).map { _ in UInt8(r.int(0...(k - 1))) }
            var want = [UInt8](repeating: 0, count: c * oh * ow), wantIdx = [Int64](repeating: -1, count: c * oh * ow)
            for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow {
                var best: UInt8 = 0, bi: Int64 = -1
                for ky in 0..<Int(p.kh) { for kx in 0..<Int(p.kw) {
                    let iy = oy * Int(p.sh) - Int(p.pt) + ky * Int(p.dh), ix = ox * Int(p.sw) - Int(p.pl) + kx * Int(p.dw)
                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                    let v = x[(ch * h + iy) * w + ix]
                    if bi < 0 || v > best { best = v; bi = Int64(iy * w + ix) }
                } }
                want[(ch * oh + oy) * ow + ox] = best; wantIdx[(ch * oh + oy) * ow + ox] = bi
            } } }
            for level in levels {
                _ = segc_set_cpu_level(level)
                for env in envs {
                    var y = [UInt8](repeating: 0xA5, count: want.count), idx = [Int64](repeating: 7, count: want.count)
                    XCTAssertEqual(segc_max_pool2d_u8(env.pool, &p, x, &y, &idx), 0)
                    XCTAssertEqual(y, want, "trial \(trial) level \(level)")
                    XCTAssertEqual(idx, wantIdx, "trial \(trial) level \(level)")
                    var y2 = [UInt8](repeating: 0xA5, count: want.count)
                    XCTAssertEqual(segc_max_pool2d_u8(env.pool, &p, x, &y2, nil), 0)
                    XCTAssertEqual(y2, want, "trial \(trial) level \(level) (no indices)")
                }
            }
        }
    }

    func testCopyRows() {
        var r = Rng(37)
        for (outer, inner, dstInner, offset) in [(3, 5, 12, 7), (16, 300_000, 600_000, 300_000), (1, 1, 1, 0), (4, 0, 3, 1)] {
            let src = (0..<(outer * inner)).map { _ in UInt8(r.int(0...255)) }
            var want = (0..<(outer * dstInner)).map { _ in UInt8(r.int(0...255)) }
            let before = want
            for o in 0..<outer { for i in 0..<inner { want[o * dstInner + offset + i] = src[o * inner + i] } }
            for level in levels {
                _ = segc_set_cpu_level(level)
                for env in envs {
                    var dst = before
                    XCTAssertEqual(segc_copy_rows_u8(env.pool, Int64(outer), Int64(inner), src, &dst, Int64(dstInner), Int64(offset)), 0)
                    XCTAssertEqual(dst, want)
                }
            }
        }
        var d = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(segc_copy_rows_u8(nil, 1, 3, d, &d, 4, 2), Int32(SEGC_EINVAL))
    }

    /// The executor's uint8 cases reach their kernels with the documented fields.
    func testExecutorCases() {
        let env = envs[1]
        let n = 1000
        var r = Rng(41)
        let x = (0..<n).map { _ in r.float() * 10 }
        var q = [UInt8](repeating: 0, count: n), back = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xb in q.withUnsafeMutableBufferPointer { qb in back.withUnsafeMutableBufferPointer { bb in
            let qf = UnsafeMutableRawPointer(qb.baseAddress!).assumingMemoryBound(to: Float.self)
            var op = segc_op()
            op.kind = Int32(SEGC_OP_QUANTIZE); op.d.0 = Int64(n); op.d.1 = 128; op.fval = 0.1
            op.in0 = xb.baseAddress; op.out0 = qf
            XCTAssertEqual(segc_exec(env.pool, &op, &env.ws), 0)
            op = segc_op()
            op.kind = Int32(SEGC_OP_DEQUANTIZE); op.d.0 = Int64(n); op.d.1 = 128; op.fval = 0.1
            op.in0 = UnsafePointer(qf); op.out0 = bb.baseAddress
            XCTAssertEqual(segc_exec(env.pool, &op, &env.ws), 0)
        } } }
        XCTAssertEqual(q, x.map { roundU8($0 / 0.1, 128) })
        XCTAssertEqual(back, q.map { Float(Int32($0) - 128) * 0.1 })
        let mul: [Float] = [0.5, 2], add: [Float] = [1, -3]
        var y = [UInt8](repeating: 0, count: n)
        q.withUnsafeBufferPointer { qb in y.withUnsafeMutableBufferPointer { yb in mul.withUnsafeBufferPointer { mb in
            add.withUnsafeBufferPointer { ab in
            var op = segc_op()
            op.kind = Int32(SEGC_OP_QAFFINE); op.d.0 = 2; op.d.1 = Int64(n / 2); op.d.2 = 128; op.d.3 = 5; op.d.4 = 1
            op.in0 = UnsafeRawPointer(qb.baseAddress!).assumingMemoryBound(to: Float.self)
            op.w0 = mb.baseAddress; op.w1 = ab.baseAddress
            op.out0 = UnsafeMutableRawPointer(yb.baseAddress!).assumingMemoryBound(to: Float.self)
            XCTAssertEqual(segc_exec(env.pool, &op, &env.ws), 0)
        } } } }
        for i in 0..<n {
            let ch = i / (n / 2)
            XCTAssertEqual(y[i], roundU8(max(Float(Int32(q[i]) - 128) * mul[ch] + add[ch], 0), 5))
        }
    }
}
