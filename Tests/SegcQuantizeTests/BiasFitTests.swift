import XCTest
import SegcQuantize

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
}
