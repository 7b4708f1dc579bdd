import CSegcKernels
import XCTest
import Foundation

final class GemmSpeedProbe: XCTestCase {
    func testProbe() {
        var r = Rng(1)
        for (m, n, k) in [(64, 2048, 192), (128, 1024, 384), (64, 1024, 64), (128, 4096, 128), (64, 8192, 64)] {
            let a = r.floats(m * k), b = r.floats(k * n)
            var c = [Float](repeating: 0, count: m * n)
            var s = [Float](repeating: 0, count: Int(segc_sgemm_scratch(Int64(m), Int64(k))))
            for level in [2, 1] as [Int32] {
                _ = segc_set_cpu_level(level)
                let reps = 50
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<reps { segc_sgemm(Int64(m), Int64(n), Int64(k), a, Int64(k), b, Int64(n), &c, Int64(n), 0, 0, &s) }
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                print(String(format: "[gemm] level %d m %d n %d k %d: %.1f GFLOP/s", level, m, n, k, 2.0 * Double(m * n * k * reps) / dt / 1e9))
            }
        }
        _ = segc_set_cpu_level(2)
    }
}
