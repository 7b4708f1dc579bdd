import CSegcKernels
import XCTest

/// `segc_quantize_dequantize` (simulated int8) against ONNX QuantizeLinear →
/// DequantizeLinear written out in Swift, at every CPU level and thread count.
final class QuantizeDequantizeKernelTests: XCTestCase {
    func testMatchesONNXDefinitionAtEveryLevel() {
        var r = Rng(19)
        let n = 100_003   // several tasks plus a ragged tail
        // Exact ties (k + 0.5 steps), NaN, infinities and random values.
        var x = (0..<n).map { i -> Float in i % 3 == 0 ? Float(r.int(-300...300)) * 0.5 : r.float() * 40 }
        x[1] = .nan; x[2] = .infinity; x[4] = -.infinity
        let was = segc_set_cpu_level(2)
        defer { _ = segc_set_cpu_level(was) }
        for (scale, zp, qmin, qmax) in [(Float(1), 0, -128, 127), (0.5, 3, 0, 255), (0.0731, 0, 0, 255), (0.11, -7, -128, 127)] {
            let lo = Float(qmin - zp), hi = Float(qmax - zp)
            let want = x.map { v -> Float in
                if v.isNaN { return lo * scale }
                return min(max((v / scale).rounded(.toNearestOrEven), lo), hi) * scale
            }
            for level in [0, 1, 2] {
                let got = segc_set_cpu_level(Int32(level))
                for env in [KernelEnv(threads: 1), KernelEnv(threads: 3)] {
                    var y = [Float](repeating: .nan, count: n)
                    XCTAssertEqual(segc_quantize_dequantize(env.pool, Int64(n), scale, Int64(zp), Int64(qmin), Int64(qmax), x, &y), 0)
                    XCTAssertEqual(y, want, "level \(got), scale \(scale), zp \(zp)")
                }
            }
        }
        var y = [Float](repeating: 0, count: 4)
        XCTAssertEqual(segc_quantize_dequantize(nil, 4, 0, 0, 0, 255, x, &y), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_quantize_dequantize(nil, 4, 1, 300, 0, 255, x, &y), Int32(SEGC_EINVAL))
        XCTAssertEqual(segc_quantize_dequantize(nil, 4, .nan, 0, 0, 255, x, &y), Int32(SEGC_EINVAL))
    }
}
