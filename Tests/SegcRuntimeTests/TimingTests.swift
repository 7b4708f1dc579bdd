import CSegcKernels
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Timing sanity checks: printed, never asserted (the machine is shared and noisy).
final class TimingTests: XCTestCase {
    func gflops(_ c: ConvCase, threads: Int, runs: Int = 10) -> Double {
        let env = KernelEnv(threads: threads)
        var r = Rng(5)
        let oh = c.h, ow = c.w
        let x = r.floats(c.cin * c.h * c.w), w = r.floats(c.cout * c.cin * c.kh * c.kw), b = r.floats(c.cout)
        var p = params(c, oh: oh, ow: ow)
        var y = [Float](repeating: 0, count: c.cout * oh * ow)
        XCTAssertEqual(segc_conv2d(env.pool, &p, x, w, b, nil, nil, &y, &env.ws), 0)
        var best = Double.infinity
        for _ in 0..<runs {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t0)
            _ = segc_conv2d(env.pool, &p, x, w, b, nil, nil, &y, &env.ws)
            clock_gettime(CLOCK_MONOTONIC, &t1)
            best = min(best, Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9)
        }
        return 2.0 * Double(c.cout * c.cin * c.kh * c.kw * oh * ow) / best / 1e9
    }

    func testConvThroughput() {
        let c33 = ConvCase(cin: 128, h: 64, w: 128, cout: 128, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, pb: 1, pr: 1, dh: 1, dw: 1, groups: 1, act: 1)
        let c13 = ConvCase(cin: 64, h: 128, w: 256, cout: 64, kh: 1, kw: 3, sh: 1, sw: 1, pt: 0, pl: 1, pb: 0, pr: 1, dh: 1, dw: 1, groups: 1, act: 1)
        for t in [1, 2] {
            print(String(format: "conv 128->128 3x3 @64x128, %d thread(s): %.1f GFLOP/s (best of 10)", t, gflops(c33, threads: t)))
            print(String(format: "conv 64->64 1x3 @128x256 (ERFNet-like), %d thread(s): %.1f GFLOP/s (best of 10)", t, gflops(c13, threads: t)))
        }
    }
}
