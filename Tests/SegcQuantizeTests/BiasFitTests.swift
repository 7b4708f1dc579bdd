import XCTest
import SegcPlan
import SegcQuantize
import SegcRuntime

/// `QuantizedWeights.fitBiases`: every int32 bias fits beside the conv's largest sum
/// Σ(x − x_zp)·w, the bias is exact (to its rounding) wherever it fits, and a channel whose
/// bias cannot fit on its own weight scale (near-zero weights) gets a wider scale instead of a
/// clamped bias. Before session 15 every bias was clamped at ±2^30: ERFNet had six channels
/// past it, one by 47x.
final class BiasFitTests: XCTestCase {
    static let taps = 27   // 3 input channels × 3x3

    /// Channel c's weights: the seeded pattern times `scale[c]`.
    static func weights(_ scale: [Float]) -> [Float] {
        var seed: UInt64 = 3
        return (0..<(scale.count * taps)).map { i in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return (Float(seed >> 40) / Float(1 << 23) - 1) * 0.5 * scale[i / taps]
        }
    }

    func check(zeroPoint zp: Int) {
        let sx: Float = 1 / 255
        // 0: ordinary; 1: bias/(s_x·s_w) ≈ 1.5·2^30 (fits beside the sums, was clamped);
        // 2: near-zero weights, ≈ 50·2^30 (cannot fit: widened); 3: all-zero weights.
        let scale: [Float] = [1, 1, 1e-9, 0]
        let w = Self.weights(scale)
        let plain = QuantizedWeights(w, channels: 4, channelOf: { $0 / Self.taps })
        let acc1 = sx * plain.scales[1], acc2 = sx * plain.scales[2]
        let b: [Float] = [0.8, 1.5 * 1_073_741_824 * acc1, -50 * 1_073_741_824 * acc2, 0.25]
        var q = plain
        let bias = q.fitBiases(b, weights: w, channelOf: { $0 / Self.taps }, inputScale: sx, inputZeroPoint: zp)
        let deviation = Int64(max(zp, 255 - zp))
        for c in 0..<4 {
            let absSum = (0..<Self.taps).reduce(Int64(0)) { $0 + Int64(abs(Int(q.values[c * Self.taps + $1]))) }
            // Every kernel's int32 sum bias + Σ(x − zp)·w stays in range for any input.
            XCTAssertLessThanOrEqual(abs(Int64(bias[c])) + deviation * absSum, Int64(Int32.max), "channel \(c), zp \(zp)")
            // The bias is the float bias on the channel's (possibly widened) grid.
            let a = sx * q.scales[c]
            XCTAssertEqual(Double(bias[c]) * Double(a), Double(b[c]), accuracy: max(1e-6 * abs(Double(b[c])), 0.51 * Double(a)),
                           "channel \(c), zp \(zp)")
        }
        XCTAssertEqual(Array(q.values[0..<(2 * Self.taps)]), Array(plain.values[0..<(2 * Self.taps)]), "channels 0 and 1 keep their weights")
        XCTAssertEqual(Array(q.scales[0..<2]), Array(plain.scales[0..<2]))
        XCTAssertEqual(q.scales[3], plain.scales[3])
        XCTAssertGreaterThan(abs(bias[1]), 1_073_741_824, "channel 1's bias is past the old clamp, and exact")
        // 50·2^30 / (2^31 − 1 − deviation·Σ|q|): 25x, and a little more for the sums' head room.
        XCTAssertGreaterThan(q.scales[2], 25 * plain.scales[2], "channel 2 is widened")
        XCTAssertLessThan(q.scales[2], 25.1 * plain.scales[2], "channel 2 is widened only as far as needed")
        // Its weights still round from the float weights on the wider grid.
        for i in 0..<Self.taps {
            XCTAssertEqual(Float(q.values[2 * Self.taps + i]), max(-127, min(127, (w[2 * Self.taps + i] / q.scales[2]).rounded())))
        }
    }

    func testBiasesFitBesideTheSumsAndNearZeroChannelsAreWidened() {
        check(zeroPoint: 0)
        check(zeroPoint: 128)
    }

    /// A channel whose largest sum alone is past int32 (255·127·70000 ≈ 2.27·10^9 here:
    /// cin·kh·kw > 66 000 taps near ±127 on a zero-point-0 input) wrapped in every kernel: the
    /// conv gave −62 700 for 70 000. Its weight scale is widened until the sums fit.
    func testChannelsWhoseSumsCannotFitInInt32AreWidened() throws {
        let cin = 70_000
        var p = TestPlanBuilder()
        let x = p.value([1, cin, 1, 1]), y = p.value([1, 2, 1, 1])
        // Channel 0: every weight 1 (all 127 on its grid); channel 1: small seeded weights.
        let w = [Float](repeating: 1, count: cin) + (0..<cin).map { _ in 0.01 * p.rnd() }
        //             kh kw sh sw pt pl pb pr dh dw g bias act res
        let ints: [Int64] = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
        p.add(PlanOp(kind: .conv2d, inputs: [x], outputs: [y], weights: [p.weight(w, [2, cin, 1, 1]), p.weight([0.5, 0.25], [2])],
                     ints: ints, algorithm: .gemm), name: "wide")
        let plan = p.plan(input: x, output: y)
        let q = try Int8Lowering.lower(plan, grids: [x: QuantParams(lo: 0, hi: 1)], fp32Layers: [])
        XCTAssertEqual(q.graph.ops.map(\.kind), [.quantize, .qconv2d])
        let input = [Float](repeating: 1, count: cin)
        let want = try SegcSession(model: try SegcModel(plan: plan), threads: 1).run(input)
        let got = try SegcSession(model: try SegcModel(plan: q), threads: 1).run(input)
        XCTAssertEqual(want[0], 70_000.5, accuracy: 0.1)
        XCTAssertEqual(got[0], want[0], accuracy: 1e-3 * want[0], "channel 0's sum wraps in int32")
        XCTAssertEqual(got[1], want[1], accuracy: 0.05, "channel 1 is unchanged")
        // Channel 1 fits: it keeps its nearest-rounded weights.
        let plain = QuantizedWeights.conv(w, shape: [2, cin, 1, 1])
        let lowered = PlanWeightBuilder(source: q.weights)
        XCTAssertEqual(Array(lowered.int8s(q.graph.ops[1].weights[0])[cin...]), Array(plain.values[cin...]))
    }
}
