import XCTest
import SegcCore
import SegcPlan
import SegcRuntime
import SegcQuantize

/// GPTQ weight rounding (`GPTQ.swift`, `ConvHessian.swift`, `WeightRounding.swift`): the
/// Cholesky factor it updates with, the im2col Hessians of strided / grouped / dilated /
/// padded convs against a direct sum, and on correlated inputs a smaller output error than
/// nearest rounding on the same grid.
final class GPTQTests: XCTestCase {
    struct Rng {
        var seed: UInt64
        /// Uniform in [−1, 1).
        mutating func next() -> Float {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(seed >> 40) / Float(1 << 23) - 1
        }
    }

    /// Uᵀ·U = A⁻¹ for an SPD A, U upper triangular.
    func testUpperFactorOfTheInverse() throws {
        var r = Rng(seed: 3)
        let n = 7
        let b = (0..<(n * n)).map { _ in Double(r.next()) }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { a[i * n + j] += b[k * n + i] * b[k * n + j] } } }
        for i in 0..<n { a[i * n + i] += 0.1 }
        let u = try XCTUnwrap(Cholesky.upperOfInverse(a, n: n))
        for i in 0..<n { for j in 0..<i { XCTAssertEqual(u[i * n + j], 0) } }
        // (Uᵀ·U)·A = I.
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for k in 0..<n {
                    var inv = 0.0
                    for m in 0..<n { inv += u[m * n + i] * u[m * n + k] }
                    s += inv * a[k * n + j]
                }
                XCTAssertEqual(s, i == j ? 1 : 0, accuracy: 1e-8)
            }
        }
        XCTAssertNil(Cholesky.lower([1, 2, 2, 1], n: 2), "indefinite")
    }

    /// ‖(W − Ŵ)·X‖ for W `rows` × k and X k × n (row-major).
    func outputError(_ w: [Float], _ q: QuantizedWeights, rows: Int, k: Int, x: [Float], n: Int) -> Double {
        var e = 0.0
        for r in 0..<rows {
            for p in 0..<n {
                var d = 0.0
                for j in 0..<k { d += (Double(w[r * k + j]) - Double(q.values[r * k + j]) * Double(q.scales[r])) * Double(x[j * n + p]) }
                e += d * d
            }
        }
        return e.squareRoot()
    }

    /// A conv of 12 output channels over 4 input channels × 3x3 taps, on inputs whose taps
    /// are strongly correlated (a smooth image plus a little noise): GPTQ's rounding, on the
    /// same per-channel grids, makes a clearly smaller output error than nearest rounding.
    /// Without the error feedback GPTQ is nearest rounding and this fails.
    func testGPTQBeatsNearestRoundingOnCorrelatedInputs() throws {
        var r = Rng(seed: 11)
        let rows = 12, cin = 4, k = cin * 9, h = 24, wd = 24
        // Image: each channel a sum of a few broad waves, + noise.
        var img = [Float](repeating: 0, count: cin * h * wd)
        for c in 0..<cin {
            let a = (0..<3).map { _ in r.next() }, f = (0..<3).map { _ in 0.1 + 0.2 * abs(r.next()) }
            for y in 0..<h { for x in 0..<wd {
                var v: Float = 0
                for t in 0..<3 { v += a[t] * sin(f[t] * Float(y + 2 * x + 5 * c) + Float(t)) }
                img[(c * h + y) * wd + x] = v + 0.05 * r.next()
            } }
        }
        // im2col of a 3x3 valid conv: X is k × n.
        let oh = h - 2, ow = wd - 2, n = oh * ow
        var x = [Float](repeating: 0, count: k * n)
        for c in 0..<cin { for ky in 0..<3 { for kx in 0..<3 {
            let j = (c * 3 + ky) * 3 + kx
            for oy in 0..<oh { for ox in 0..<ow { x[j * n + oy * ow + ox] = img[(c * h + oy + ky) * wd + ox + kx] } }
        } } }
        var hess = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<k { var s = 0.0; for p in 0..<n { s += Double(x[i * n + p]) * Double(x[j * n + p]) }; hess[i * k + j] = s } }
        let w = (0..<(rows * k)).map { _ in r.next() * 0.3 }
        let nearest = QuantizedWeights.conv(w, shape: [rows, cin, 3, 3])
        let values = try XCTUnwrap(GPTQ.round(w, rows: rows, columns: k, scales: nearest.scales, hessian: hess))
        let gptq = QuantizedWeights(values: values, scales: nearest.scales)
        let eN = outputError(w, nearest, rows: rows, k: k, x: x, n: n)
        let eG = outputError(w, gptq, rows: rows, k: k, x: x, n: n)
        print("[gptq] output error ‖(W − Ŵ)X‖: nearest \(eN), gptq \(eG)")
        XCTAssertLessThan(eG, 0.7 * eN)
        XCTAssertTrue(values.allSatisfy { $0 >= -127 })
        // Same grid: every value within a few steps of nearest's (GPTQ moves weights by
        // compensations of the order of a step, not to another scale).
        XCTAssertLessThanOrEqual(zip(values, nearest.values).map { abs(Int($0) - Int($1)) }.max()!, 8)
        // With uncorrelated inputs (H diagonal) there is nothing to compensate with: nearest.
        var diag = [Double](repeating: 0, count: k * k)
        for i in 0..<k { diag[i * k + i] = 1 + Double(i) }
        XCTAssertEqual(GPTQ.round(w, rows: rows, columns: k, scales: nearest.scales, hessian: diag), nearest.values)
    }

    /// input [1, 4, 7, 9] → conv A (4 → 6, 3x3, stride 2, pad 1, groups 2) → conv B (6 → 2,
    /// 3x3, dilation 2, pad 2).
    static func plan() -> PlanFile {
        var p = TestPlanBuilder()
        var r = Rng(seed: 5)
        let x = p.value([1, 4, 7, 9]), y1 = p.value([1, 6, 4, 5]), y2 = p.value([1, 2, 4, 5])
        let wa = (0..<(6 * 2 * 9)).map { _ in r.next() }, wb = (0..<(2 * 6 * 9)).map { _ in r.next() }
        //                 kh kw sh sw pt pl pb pr dh dw  g bias act res
        let ca: [Int64] = [3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 0], cb: [Int64] = [3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0]
        let weightsA = [p.weight(wa, [6, 2, 3, 3]), p.weight([0.1, 0, -0.1, 0.2, 0, 0.3], [6])]
        p.add(PlanOp(kind: .conv2d, inputs: [x], outputs: [y1], weights: weightsA, ints: ca, algorithm: .gemm), name: "a")
        let weightsB = [p.weight(wb, [2, 6, 3, 3]), p.weight([0, 0.5], [2])]
        p.add(PlanOp(kind: .conv2d, inputs: [y1], outputs: [y2], weights: weightsB, ints: cb, algorithm: .gemm), name: "b")
        return p.plan(input: x, output: y2)
    }

    /// Σ v·vᵀ over output pixels, v the group's receptive field in (ci, ky, kx) order, by hand.
    func directHessians(_ plan: PlanFile, op i: Int, _ x: [Float]) -> [[Double]] {
        let op = plan.graph.ops[i], c = op.ints.map { Int($0) }
        let xs = plan.graph.values[op.inputs[0]].shape, ys = plan.graph.values[op.outputs[0]].shape
        let groups = c[10], cinG = xs[1] / groups, k = cinG * 9
        var hs = [[Double]](repeating: [Double](repeating: 0, count: k * k), count: groups)
        for g in 0..<groups { for oy in 0..<ys[2] { for ox in 0..<ys[3] {
            var v = [Double](repeating: 0, count: k)
            for ci in 0..<cinG { for ky in 0..<3 { for kx in 0..<3 {
                let y = oy * c[2] - c[4] + ky * c[8], xx = ox * c[3] - c[5] + kx * c[9]
                if y >= 0 && y < xs[2] && xx >= 0 && xx < xs[3] { v[(ci * 3 + ky) * 3 + kx] = Double(x[((g * cinG + ci) * xs[2] + y) * xs[3] + xx]) }
            } } }
            for a in 0..<k { for b in 0..<k { hs[g][a * k + b] += v[a] * v[b] } }
        } } }
        return hs
    }

    func testConvHessiansMatchADirectSumOverReceptiveFields() throws {
        let plan = Self.plan()
        var r = Rng(seed: 8)
        let images = (0..<2).map { _ in (0..<(4 * 7 * 9)).map { _ in r.next() } }
        let hs = try ConvHessian.collect(plan, convs: [0, 1], images: 2, threads: 1, input: { images[$0] })
        // Conv B's input is conv A's output (ReLU): read it from the fp32 run.
        let session = try SegcSession(model: try SegcModel(plan: plan), threads: 1)
        var mid: [[Float]] = []
        session.observer = { i, b in if i == 0 { mid.append(Array(b)) } }
        for x in images { _ = try session.run(x) }
        var wantA = directHessians(plan, op: 0, images[0]), wantB = directHessians(plan, op: 1, mid[0])
        for (g, h) in directHessians(plan, op: 0, images[1]).enumerated() { for e in h.indices { wantA[g][e] += h[e] } }
        for (g, h) in directHessians(plan, op: 1, mid[1]).enumerated() { for e in h.indices { wantB[g][e] += h[e] } }
        XCTAssertEqual(hs[0]?.count, 2)
        XCTAssertEqual(hs[1]?.count, 1)
        for (got, want) in [(hs[0]!, wantA), (hs[1]!, wantB)] {
            for g in want.indices {
                let scale = want[g].map(abs).max()!
                XCTAssertGreaterThan(scale, 0)
                for e in want[g].indices { XCTAssertEqual(got[g][e], want[g][e], accuracy: 1e-5 * scale) }
            }
        }
    }

    /// Through the quantizer: GPTQ weights go into the int8 plan (other values than nearest's,
    /// same scales), the default lowering is untouched, and refusing it without images.
    func testQuantizerLowersGPTQWeights() throws {
        let plan = Self.plan()
        var r = Rng(seed: 21)
        let images = (0..<3).map { _ in (0..<(4 * 7 * 9)).map { _ in r.next() } }
        var o = Quantizer.Options()
        o.fp32Layers = []
        o.threads = 1
        let nearest = try Quantizer.quantize(plan, count: 3, options: o, input: { images[$0] })
        o.weightRounding = .gptq
        let gptq = try Quantizer.quantize(plan, count: 3, options: o, input: { images[$0] })
        func int8Weights(_ p: PlanFile) -> [[Int8]] {
            p.graph.ops.filter { $0.kind == .qconv2d }.map { op in
                p.weights.withBytes { raw in (0..<op.weights[0].elementCount).map { raw.load(fromByteOffset: op.weights[0].offset + $0, as: Int8.self) } }
            }
        }
        let a = int8Weights(nearest.plan), b = int8Weights(gptq.plan)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(b.count, 2)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(nearest.plan.graph.ops.map(\.kind), gptq.plan.graph.ops.map(\.kind))
        o.storedHistograms = nearest.calibration.histograms
        XCTAssertThrowsError(try Quantizer.quantize(plan, count: 0, options: o, input: { images[$0] }))
    }
}
