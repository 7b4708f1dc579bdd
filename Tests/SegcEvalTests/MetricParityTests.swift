import Foundation
import SegcCore
import SegcEval
import XCTest

private struct MetricCases: Decodable {
    struct Case: Decodable {
        let name: String
        let seed: UInt64
        let n: Int
        let q: Int64
        let mode: String
        let dtype: String
        let ignore: UInt64
        let pos: UInt64
        let npos: Int
        let positives: Int
        let negatives: Int
        let auprc: String
        let fpr95: String
    }
    let cases: [Case]
}

/// splitmix64, as in Fixtures/eval/make_metric_cases.py.
private struct SplitMix64 {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses Python's `float.hex()` output.
private func parseHex(_ s: String) -> Double {
    if s == "nan" { return .nan }
    if s == "inf" { return .infinity }
    if s == "-inf" { return -.infinity }
    return Double(s) ?? .nan  // Swift parses C99 hex floats ("0x1.8p-1").
}

final class MetricParityTests: XCTestCase {
    func testAuPRCAndFPR95MatchScikitLearnAndOodMetrics() throws {
        let url = URL(fileURLWithPath: TestPaths.fixtures + "/metric_cases.json")
        let cases = try JSONDecoder().decode(MetricCases.self, from: Data(contentsOf: url)).cases
        var maxDiff = 0.0, bitExact = 0
        for c in cases {
            var g = SplitMix64(s: c.seed)
            var labels = [UInt8](repeating: 0, count: c.n)
            var nums = [Int64](repeating: 0, count: c.n)
            for i in 0..<c.n {
                let u = g.next() % 1000
                if c.mode == "exact95" { labels[i] = i < c.npos ? 1 : 0 }
                else if u < c.ignore { labels[i] = 255 }
                else if u < c.ignore + c.pos { labels[i] = 1 }
                else { labels[i] = 0 }
                nums[i] = Int64(g.next() % UInt64(c.q))
            }
            var den = [Int64](repeating: c.q, count: c.n)
            for i in 0..<c.n {
                let k = nums[i]
                switch c.mode {
                case "perfect":
                    nums[i] = labels[i] == 1 ? c.q + k : k
                    den[i] = 2 * c.q
                case "shift":
                    nums[i] = labels[i] == 1 ? min(c.q - 1, k + c.q / 4) : k
                default: break
                }
            }
            var acc = AnomalyAccumulator()
            if c.dtype == "f32" {
                try acc.add(scores: (0..<c.n).map { Float(nums[$0]) / Float(den[$0]) }, labels: labels)
            } else {
                try acc.add(scores: (0..<c.n).map { Double(nums[$0]) / Double(den[$0]) }, labels: labels.map { Int64($0) })
            }
            XCTAssertEqual(acc.positives, c.positives, c.name)
            XCTAssertEqual(acc.negatives, c.negatives, c.name)
            let (ap, fpr) = try acc.metrics()
            let wantAP = parseHex(c.auprc), wantFPR = parseHex(c.fpr95)
            let d = max(abs(ap - wantAP), abs(fpr - wantFPR))
            maxDiff = max(maxDiff, d)
            if ap.bitPattern == wantAP.bitPattern && fpr.bitPattern == wantFPR.bitPattern { bitExact += 1 }
            else { print("metric case \(c.name): auprc \(ap) vs \(wantAP), fpr95 \(fpr) vs \(wantFPR)") }
            XCTAssertLessThanOrEqual(d, 1e-9, c.name)
        }
        print("Metric parity: \(cases.count) cases, \(bitExact) bit-exact, max |diff| \(maxDiff)")
    }

    func testDegeneratePoolsAreErrors() throws {
        var acc = AnomalyAccumulator()
        try acc.add(scores: [0.1, 0.2], labels: [0, 255])
        XCTAssertThrowsError(try acc.metrics())
        var acc2 = AnomalyAccumulator()
        try acc2.add(scores: [0.1, 0.2], labels: [1, 1])
        XCTAssertThrowsError(try acc2.metrics())
        var acc3 = AnomalyAccumulator()
        XCTAssertThrowsError(try acc3.add(scores: [Float.nan], labels: [1]))
        XCTAssertThrowsError(try acc3.add(scores: [Float.infinity], labels: [0]))
        try acc3.add(scores: [Float.nan], labels: [255])  // ignored pixels may hold anything
        XCTAssertEqual(acc3.ignored, 1)
    }

    func testIoUFollowsIouEval() throws {
        var acc = try IoUAccumulator(classes: 20, ignoreIndex: 19)
        // label 255 -> 19 (ignored for every class); prediction 19 is a miss for the true class.
        try acc.add(predictions: [0, 0, 1, 19, 2, 5], labels: [0, 1, 1, 2, 255, 255])
        let (miou, per) = acc.iou()
        XCTAssertEqual(per.count, 19)
        XCTAssertEqual(per[0], 1.0 / ((1.0 + 1.0 + 0.0) + 1e-15))  // TP 1, FP 1 (label 1), FN 0
        XCTAssertEqual(per[1], 1.0 / ((1.0 + 0.0 + 1.0) + 1e-15))
        XCTAssertEqual(per[2], 0.0)  // TP 0, FN 1 (predicted 19)
        XCTAssertEqual(miou, per.reduce(0, +) / 19)
        XCTAssertEqual(acc.ignoredPixels, 2)
        XCTAssertThrowsError(try acc.add(predictions: [20], labels: [0]))
        XCTAssertThrowsError(try acc.add(predictions: [0], labels: [21]))
    }

    func testScores() throws {
        // Two pixels, three classes, planar [C, P].
        let logits: [Float] = [1, 0, 2, 0, 0, 3]
        let (msp, am) = try Scores.compute(.msp(temperature: 1), logits: logits, classes: 3, pixels: 2, argmax: true)
        XCTAssertEqual(am, [1, 2])
        let e: [Float] = [expf(-1), 1, expf(-2)]
        XCTAssertEqual(msp[0], 1 - 1 / (e[0] + e[1] + e[2]), accuracy: 1e-7)
        let (ml, _) = try Scores.compute(.maxLogit, logits: logits, classes: 3, pixels: 2)
        XCTAssertEqual(ml, [-2, -3])
        let (v, _) = try Scores.compute(.void, logits: logits, classes: 3, pixels: 2)
        XCTAssertEqual(v[0], e[2] / (e[0] + e[1] + e[2]), accuracy: 1e-7)
        let (h, _) = try Scores.compute(.maxEntropy, logits: [0, 0], classes: 2, pixels: 1)
        XCTAssertEqual(h[0], logf(2), accuracy: 1e-6)
        XCTAssertThrowsError(try Scores.compute(.maxLogit, logits: logits, classes: 4, pixels: 2))
    }

    /// A 19-class net (no void class): Cityscapes' 255 is not counted; any other label
    /// outside the classes is still an error.
    func testIgnoreLabelWithoutAVoidClass() throws {
        var acc = try IoUAccumulator(classes: 19, ignoreIndex: 19)
        XCTAssertNil(acc.ignoreIndex)
        try acc.add(predictions: [0, 1, 1, 18], labels: [0, 1, 255, 18])
        XCTAssertEqual(acc.ignoredPixels, 1)
        XCTAssertEqual(acc.tp[0], 1); XCTAssertEqual(acc.tp[1], 1); XCTAssertEqual(acc.tp[18], 1)
        XCTAssertEqual(acc.fp[1], 0, "the ignored pixel's prediction is not a false positive")
        XCTAssertThrowsError(try acc.add(predictions: [0], labels: [19]))
        XCTAssertThrowsError(try acc.add(predictions: [19], labels: [255]), "predictions are still checked")
    }
}
