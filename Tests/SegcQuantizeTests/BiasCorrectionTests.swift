import XCTest
import SegcCore
import SegcPlan
import SegcRuntime
import SegcQuantize

/// Empirical bias correction (`BiasCorrection.swift`): the per-channel correction formula,
/// and on a small synthetic network whose int8 output has a known mean shift (the second
/// conv reads an activation whose grid clips its tail), the corrected biases remove it.
final class BiasCorrectionTests: XCTestCase {
    /// Δb = Σ W·mean(x) − Σ Ŵ·mean(x̂) per output channel, by hand.
    func testDeltaOfAConvByHand() {
        let w: [Float] = [0.5, 0.3, -1.0, 0.26]              // [cout 2, cin 2, 1, 1]
        let q = QuantizedWeights.conv(w, shape: [2, 2, 1, 1])
        func rounded(_ x: Float, _ maxAbs: Float) -> Double { Double((x * 127 / maxAbs).rounded()) * Double(maxAbs) / 127 }
        let wq = [rounded(0.5, 0.5), rounded(0.3, 0.5), rounded(-1.0, 1.0), rounded(0.26, 1.0)]
        XCTAssertNotEqual(wq[1], 0.3, "the test needs a rounding error")
        let m = [2.0, 3.0], mq = [1.9, 3.2]
        // Weights only (no measured input means): Σ (W − Ŵ)·mean(x).
        let d0 = BiasCorrection.delta(w, shape: [2, 2, 1, 1], transposed: false, groups: 1, quantized: q,
                                      inputMeans: m, quantizedInputMeans: nil, inputPixels: 64, outputPixels: 64)
        XCTAssertEqual(d0[0], (0.5 - wq[0]) * 2 + (Double(Float(0.3)) - wq[1]) * 3, accuracy: 1e-7)
        XCTAssertEqual(d0[1], (-1.0 - wq[2]) * 2 + (Double(Float(0.26)) - wq[3]) * 3, accuracy: 1e-7)
        // With the uint8 input's measured means.
        let d1 = BiasCorrection.delta(w, shape: [2, 2, 1, 1], transposed: false, groups: 1, quantized: q,
                                      inputMeans: m, quantizedInputMeans: mq, inputPixels: 64, outputPixels: 64)
        XCTAssertEqual(d1[0], 0.5 * 2 + Double(Float(0.3)) * 3 - (wq[0] * 1.9 + wq[1] * 3.2), accuracy: 1e-6)
        XCTAssertEqual(d1[1], -1.0 * 2 + Double(Float(0.26)) * 3 - (wq[2] * 1.9 + wq[3] * 3.2), accuracy: 1e-6)
        // Depthwise (groups 2): each output channel reads its own input channel only.
        let dw = BiasCorrection.delta([0.3, 0.26], shape: [2, 1, 1, 1], transposed: false, groups: 2,
                                      quantized: QuantizedWeights.conv([0.3, 0.26], shape: [2, 1, 1, 1]),
                                      inputMeans: m, quantizedInputMeans: mq, inputPixels: 64, outputPixels: 64)
        XCTAssertEqual(dw[0], Double(Float(0.3)) * (2 - 1.9), accuracy: 1e-6)   // 0.3 and 0.26 are their channels' maxima
        XCTAssertEqual(dw[1], Double(Float(0.26)) * (3 - 3.2), accuracy: 1e-6)
        // A transposed conv with stride 2 writes each input pixel's taps once over 4× the
        // pixels: its output mean carries 1/4 of the tap sum.
        let t = BiasCorrection.delta([0.5, 0.3, -1.0, 0.26], shape: [1, 1, 2, 2], transposed: true, groups: 1,
                                     quantized: QuantizedWeights.convTranspose([0.5, 0.3, -1.0, 0.26], shape: [1, 1, 2, 2], groups: 1),
                                     inputMeans: [2], quantizedInputMeans: [1.5], inputPixels: 16, outputPixels: 64)
        let tq = [rounded(0.5, 1), rounded(0.3, 1), rounded(-1, 1), rounded(0.26, 1)]
        let sum = Double(Float(0.5) + Float(0.3) - 1 + Float(0.26))
        XCTAssertEqual(t[0], (sum * 2 - tq.reduce(0, +) * 1.5) / 4, accuracy: 1e-6)
    }

    /// input [1,3,H,W] → conv 3→4 3x3 + ReLU → conv 4→3 1x1 (logits). The first conv's
    /// output has a heavy tail that a 95th-percentile grid clips, so the second conv's uint8
    /// input has a lower mean than the fp32 one and the int8 logits a negative mean shift.
    static func network(h: Int = 24, w: Int = 32) -> PlanFile {
        var p = TestPlanBuilder(seed: 7)
        let x = p.value([1, 3, h, w]), y1 = p.value([1, 4, h, w]), y2 = p.value([1, 3, h, w])
        let w1 = (0..<(4 * 3 * 9)).map { _ in p.rnd() * 0.4 }, b1: [Float] = [0.05, -0.1, 0.2, 0.0]
        let w2 = (0..<(3 * 4)).map { _ in 0.5 + abs(p.rnd()) }, b2: [Float] = [0.1, -0.2, 0.3]
        let c1: [Int64] = [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0], c2: [Int64] = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
        let weights1 = [p.weight(w1, [4, 3, 3, 3]), p.weight(b1, [4])]
        p.add(PlanOp(kind: .conv2d, inputs: [x], outputs: [y1], weights: weights1, ints: c1, algorithm: .gemm), name: "conv1")
        let weights2 = [p.weight(w2, [3, 4, 1, 1]), p.weight(b2, [3])]
        p.add(PlanOp(kind: .conv2d, inputs: [y1], outputs: [y2], weights: weights2, ints: c2, algorithm: .gemm), name: "conv2")
        return p.plan(input: x, output: y2)
    }

    /// Images in [0, 1] with bright spots (the heavy tail of the first conv's output).
    static func images(_ plan: PlanFile, count: Int) -> [[Float]] {
        let n = plan.graph.values[plan.graph.input].elementCount
        var seed: UInt64 = 99
        func u() -> Float {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(seed >> 40) / Float(1 << 24)
        }
        return (0..<count).map { _ in (0..<n).map { _ in let v = u(); return v > 0.97 ? 1 : v * 0.3 } }
    }

    /// Per-channel mean of (int8 logits − fp32 logits) over the images.
    func meanError(_ q: PlanFile, _ plan: PlanFile, _ inputs: [[Float]]) throws -> [Double] {
        let a = try SegcSession(model: try SegcModel(plan: q), threads: 1)
        let b = try SegcSession(model: try SegcModel(plan: plan), threads: 1)
        let s = plan.graph.values[plan.graph.output].shape, hw = s[2] * s[3]
        var e = [Double](repeating: 0, count: s[1])
        for x in inputs {
            let got = Array(try a.run(x)), want = Array(try b.run(x))
            for c in 0..<s[1] { for i in (c * hw)..<((c + 1) * hw) { e[c] += Double(got[i] - want[i]) } }
        }
        return e.map { $0 / Double(inputs.count * hw) }
    }

    func quantize(_ plan: PlanFile, _ inputs: [[Float]], mode: BiasCorrection.Mode, correction: Bool = true) throws -> PlanFile {
        var o = Quantizer.Options()
        o.method = .percentile(95)
        o.fp32Layers = []
        o.threads = 1
        o.biasCorrection = correction
        o.biasCorrectionMode = mode
        return try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan
    }

    func testCorrectedBiasesRemoveTheMeanShiftOfAClippedActivation() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 6)
        let off = try meanError(try quantize(plan, inputs, mode: .weights, correction: false), plan, inputs)
        let weightsOnly = try meanError(try quantize(plan, inputs, mode: .weights), plan, inputs)
        let local = try meanError(try quantize(plan, inputs, mode: .local), plan, inputs)
        let sequential = try meanError(try quantize(plan, inputs, mode: .sequential), plan, inputs)
        print("[bias correction] mean logit error per channel: none \(off), weights only \(weightsOnly), local \(local), sequential \(sequential)")
        let shift = off.map(abs).max()!
        // The setup has a real shift, and correcting the rounded weights alone leaves it.
        XCTAssertGreaterThan(shift, 0.01)
        XCTAssertGreaterThan(weightsOnly.map(abs).max()!, 0.5 * shift)
        // Measured on the calibration images, the corrected plans' output means match fp32's
        // up to the int32 bias rounding and the output's own rounding.
        XCTAssertLessThan(local.map(abs).max()!, 0.1 * shift)
        XCTAssertLessThan(sequential.map(abs).max()!, 0.1 * shift)
    }

    /// The measured uint8 means of a conv that reads the (exact) network input equal the
    /// local ones (nothing upstream), and the runtime's uint8 observer sees every int8 conv input.
    func testMeasuredMeansOfTheInt8PlanMatchTheLocalOnesAtTheInput() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 3)
        let cal = try Calibration.run(plan: plan, count: inputs.count, threads: 1, input: { inputs[$0] })
        var grids: [Int: QuantParams] = [:]
        for (v, h) in cal.histograms { grids[v] = CalibrationMethod.percentile(95).params(h) }
        grids[plan.graph.input] = CalibrationMethod.minmax.params(cal.histograms[plan.graph.input]!)
        let (q, convInputs) = try Int8Lowering.lowerReporting(plan, grids: grids, fp32Layers: [], channelMeans: cal.channelMeans)
        XCTAssertEqual(Set(convInputs.keys), [plan.graph.input, plan.graph.ops[1].inputs[0]])
        let local = try BiasCorrection.measureLocal(plan, convInputs: convInputs, images: [0, 1, 2], threads: 1, input: { inputs[$0] })
        let measured = try BiasCorrection.measure(q, convInputs: convInputs, images: [0, 1, 2], threads: 1, input: { inputs[$0] })
        XCTAssertEqual(Set(measured.keys), Set(convInputs.keys))
        for (a, b) in zip(local[plan.graph.input]!, measured[plan.graph.input]!) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        // The clipped activation: both below the fp32 mean.
        let v = plan.graph.ops[1].inputs[0]
        for c in 0..<4 { XCTAssertLessThan(local[v]![c], cal.channelMeans[v]![c] + 1e-6) }
    }

    /// `quantize --stats` without images: the STAT section keeps the conv inputs' channel
    /// means, so the plan from stored histograms gets the same (weights) bias correction as
    /// the plan from the images — byte for byte here, where the histograms are the same.
    /// Without the means (a version-1 STAT) the biases differ.
    func testStoredChannelMeansGiveTheImagesBiasCorrection() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 4)
        var o = Quantizer.Options()
        o.method = .percentile(95)
        o.fp32Layers = []
        o.threads = 1
        let fromImages = try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] })
        XCTAssertFalse(fromImages.calibration.channelMeans.isEmpty)
        let stat = try StatSection.decode(StatSection.encode(fromImages.calibration, sourceGraph: 1))
        XCTAssertEqual(Set(stat.channelMeans.keys), Set(fromImages.calibration.channelMeans.keys))
        for (v, m) in stat.channelMeans {
            for (a, b) in zip(m, fromImages.calibration.channelMeans[v]!) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(b))) }
        }
        o.storedHistograms = fromImages.calibration.histograms
        o.storedChannelMeans = stat.channelMeans
        let fromStat = try Quantizer.quantize(plan, count: 0, options: o, input: { _ in [] })
        // The same plan but for the range guard, which only images can measure.
        XCTAssertFalse(fromImages.plan.metadata.rangeGuard.isEmpty)
        XCTAssertEqual(fromStat.plan.metadata.rangeGuard, [])
        var imagesUnguarded = fromImages.plan
        imagesUnguarded.metadata.rangeGuard = []
        XCTAssertEqual(try PlanWriter.serialize(fromStat.plan), try PlanWriter.serialize(imagesUnguarded))
        o.storedChannelMeans = [:]
        let uncorrected = try Quantizer.quantize(plan, count: 0, options: o, input: { _ in [] })
        XCTAssertNotEqual(try PlanWriter.serialize(uncorrected.plan), try PlanWriter.serialize(imagesUnguarded))
    }
}
