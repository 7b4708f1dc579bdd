import XCTest
import SegcCore
import SegcPlan
import SegcRuntime
import SegcQuantize

/// Cross-layer channel equalization (`ChannelEqualization.swift`): which channels it ties
/// together and rescales, that the rewritten fp32 plan computes the same function, that it evens the
/// intermediate channel ranges, and that the int8 plan of a network with very uneven
/// channels gets closer to fp32.
final class ChannelEqualizationTests: XCTestCase {
    typealias Builder = TestPlanBuilder

    /// The channel factors of conv1's output (as after a folded BN): one channel 200× below the widest.
    static let factors: [Float] = [1, 0.02, 4, 0.1, 1, 0.3]

    /// input [1,3,16,20] → conv1 3→6 3x3 + ReLU (rows × `factors`) → max pool 2x2 → depthwise
    /// conv2 3x3 + ReLU (channel c × 1 / factors[c], so every channel matters downstream) →
    /// conv3 6→3 1x1 (logits). Groups: conv1 → pool → conv2 and conv2 → conv3, one per channel.
    static func network() -> PlanFile {
        var b = Builder()
        let x = b.value([1, 3, 16, 20])
        let y1 = b.conv(x, 6, k: 3, act: 1, rowScale: factors, name: "conv1")
        let p = b.maxPool(y1)
        let y2 = b.conv(p, 6, k: 3, groups: 6, act: 1, rowScale: factors.map { 1 / $0 }, name: "conv2")
        let y3 = b.conv(y2, 3, k: 1, act: 0, name: "conv3")
        return b.plan(input: x, output: y3)
    }

    static func images(_ plan: PlanFile, count: Int) -> [[Float]] {
        let n = plan.graph.values[plan.graph.input].elementCount
        var seed: UInt64 = 5
        return (0..<count).map { _ in
            (0..<n).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Float(seed >> 40) / Float(1 << 24)
            }
        }
    }

    func run(_ plan: PlanFile, _ inputs: [[Float]]) throws -> [[Float]] {
        let s = try SegcSession(model: try SegcModel(plan: plan), threads: 1)
        return try inputs.map { Array(try s.run($0)) }
    }

    func maxDiff(_ a: [[Float]], _ b: [[Float]]) -> Float {
        var m: Float = 0
        for (x, y) in zip(a, b) { for (p, q) in zip(x, y) { m = max(m, abs(p - q)) } }
        return m
    }

    /// conv1's channels pass through the max pool to conv2 (one group per channel); conv2's
    /// channels go to conv3 (one group each); the input and the logits stay unscaled.
    func testGroupsFollowChannelsThroughMaxPool() {
        let plan = Self.network()
        let gr = ChannelEqualization.groups(plan)
        let g = plan.graph
        let y1 = g.ops[0].outputs[0], p = g.ops[1].outputs[0], y2 = g.ops[2].outputs[0]
        XCTAssertEqual(gr.values, [y1, p, y2])
        XCTAssertEqual(gr.count, 12)
        for c in 0..<6 {
            XCTAssertNotNil(gr.groupOf(y1, c))
            XCTAssertEqual(gr.groupOf(y1, c), gr.groupOf(p, c))
            XCTAssertNotEqual(gr.groupOf(y1, c), gr.groupOf(y2, c))
        }
        XCTAssertNil(gr.groupOf(g.input, 0))
        XCTAssertNil(gr.groupOf(g.output, 0))
    }

    /// A conv's fused residual ties its output to its residual input (one scale for the
    /// stream); a value that also feeds an op that cannot absorb a scale (here an add) is
    /// left alone, and so is everything tied to it.
    func testResidualStreamsShareOneScaleAndOtherReadersPinThem() throws {
        var b = Builder()
        let x = b.value([1, 3, 8, 8])
        let a = b.conv(x, 4, k: 3, act: 1, name: "a")                   // the stream: read by b, c's residual
        let y = b.conv(a, 4, k: 3, act: 1, name: "b")
        let r = b.conv(y, 4, k: 3, act: 1, residual: a, name: "c")      // stream + residual
        let z = b.conv(r, 2, k: 1, act: 0, name: "d")
        let plan = b.plan(input: x, output: z)
        let gr = ChannelEqualization.groups(plan)
        XCTAssertEqual(gr.values, [a, y, r])
        for c in 0..<4 { XCTAssertEqual(gr.groupOf(a, c), gr.groupOf(r, c)) }
        // The same function after equalization, residual included.
        let inputs = Self.images(plan, count: 3)
        let want = try run(plan, inputs)
        let (eq, report) = try ChannelEqualization.equalize(plan, images: 3, options: .init(alpha: 1, clamp: 100), threads: 1,
                                                            input: { inputs[$0] })
        XCTAssertEqual(report.groups, 8)
        XCTAssertEqual(report.scales[a], report.scales[r])
        XCTAssertLessThan(maxDiff(try run(eq, inputs), want), 1e-5 * want.flatMap { $0 }.map(abs).max()!)

        // The stream also read by an add (which cannot absorb a scale): a and r stay 1, b's output is still free.
        var b2 = Builder()
        let x2 = b2.value([1, 3, 8, 8])
        let a2 = b2.conv(x2, 4, k: 3, act: 1, name: "a")
        let y2 = b2.conv(a2, 4, k: 3, act: 1, name: "b")
        let r2 = b2.conv(y2, 4, k: 3, act: 1, residual: a2, name: "c")
        let s2 = b2.value([1, 4, 8, 8])
        b2.ops.append(PlanOp(kind: .add, inputs: [r2, a2], outputs: [s2]))
        b2.names.append("add")
        let z2 = b2.conv(s2, 2, k: 1, act: 0, name: "d")
        let gr2 = ChannelEqualization.groups(b2.plan(input: x2, output: z2))
        XCTAssertEqual(gr2.values, [y2])
    }

    /// The equalized fp32 plan computes the same logits (only float rounding differs), and a
    /// rewrite that scales only one side of a pair does not (the check is sharp).
    func testEqualizedPlanComputesTheSameFunction() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 4)
        let want = try run(plan, inputs)
        let top = want.flatMap { $0 }.map(abs).max()!
        for alpha in [0.5, 1.0] {
            let (eq, report) = try ChannelEqualization.equalize(plan, images: 4, options: .init(alpha: alpha, clamp: 100), threads: 1,
                                                                input: { inputs[$0] })
            XCTAssertEqual(report.groups, 12)
            XCTAssertEqual(eq.graph, plan.graph, "only weights change")
            let scales = report.scales[plan.graph.ops[0].outputs[0]]!
            XCTAssertGreaterThan(scales.max()! / scales.min()!, 5, "the test needs real scales")
            let d = maxDiff(try run(eq, inputs), want)
            print("[equalization] alpha \(alpha): max |diff| \(d) of max |logit| \(top); scales \(scales)")
            XCTAssertLessThan(d, 1e-5 * top)
        }
        // Scaling conv1's rows without conv2's columns changes the function: the check is sharp.
        let y1 = plan.graph.ops[0].outputs[0], p = plan.graph.ops[1].outputs[0]
        let s: [Float] = [1, 0.05, 2, 0.2, 1, 0.5]
        let both = ChannelEqualization.apply(plan) { v, c in v == y1 || v == p ? s[c] : nil }
        XCTAssertLessThan(maxDiff(try run(both, inputs), want), 1e-5 * top)
        // Put conv2's original weights back: conv1 stays divided, conv2 no longer compensates.
        let conv2 = plan.graph.ops[2].weights[0]
        var bytes = both.weights.withBytes { Array($0) }
        plan.weights.withBytes { raw in
            for i in 0..<(conv2.byteCount) { bytes[conv2.offset + i] = raw[conv2.offset + i] }
        }
        let wrong = PlanFile(metadata: plan.metadata, graph: plan.graph, weights: PlanWeights(owned: bytes), sourceMap: plan.sourceMap)
        XCTAssertGreaterThan(maxDiff(try run(wrong, inputs), want), 1e-2 * top)
    }

    /// The intermediate channel ranges become even: with α = 1 every channel spans the
    /// tensor's range (up to the clamp), with α = 0.5 the spread is about its square root.
    func testEqualizationEvensChannelRanges() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 4)
        let v = plan.graph.ops[0].outputs[0]
        let before = try ChannelEqualization.channelMaxima(plan, values: [v], images: 4, threads: 1, input: { inputs[$0] })[v]!
        for (alpha, limit) in [(1.0, 1.01), (0.5, 1.2 * Double(before.max()! / before.min()!).squareRoot())] {
            let eq = try ChannelEqualization.equalize(plan, images: 4, options: .init(alpha: alpha, clamp: 1000), threads: 1,
                                                      input: { inputs[$0] }).plan
            let after = try ChannelEqualization.channelMaxima(eq, values: [v], images: 4, threads: 1, input: { inputs[$0] })[v]!
            XCTAssertEqual(before.filter { $0 == 0 }.count, 0, "every channel is alive")
            let ratio = Double(after.max()! / after.min()!)
            print("[equalization] alpha \(alpha): channel ranges \(before) -> \(after)")
            XCTAssertGreaterThan(Double(before.max()! / before.min()!), 50)
            XCTAssertLessThan(ratio, limit)
            XCTAssertEqual(Double(after.max()!), Double(before.max()!), accuracy: 1e-3 * Double(before.max()!), "the widest range is kept")
        }
        // The clamp bounds every scale.
        let clamped = try ChannelEqualization.equalize(plan, images: 4, options: .init(alpha: 1, clamp: 4), threads: 1, input: { inputs[$0] })
        for s in clamped.report.scales.values.joined() { XCTAssertTrue(s >= 0.25 - 1e-6 && s <= 4 + 1e-6) }
    }

    /// All-int8, the equalized network's logits are closer to fp32: its small channels no
    /// longer sit on a handful of the per-tensor grid's levels.
    func testInt8PlanOfTheEqualizedNetworkIsCloserToFp32() throws {
        let plan = Self.network()
        let inputs = Self.images(plan, count: 6)
        let want = try run(plan, inputs)
        func error(_ eq: ChannelEqualization.Options?) throws -> Double {
            var o = Quantizer.Options()
            o.method = .mse
            o.fp32Layers = []
            o.threads = 1
            o.equalization = eq
            let q = try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] })
            XCTAssertEqual(q.equalization?.groups ?? 0, eq == nil ? 0 : 12)
            var e = 0.0, n = 0
            for (x, y) in zip(try run(q.plan, inputs), want) { for (p, r) in zip(x, y) { e += Double((p - r) * (p - r)); n += 1 } }
            return (e / Double(n)).squareRoot()
        }
        let off = try error(nil), half = try error(.init(alpha: 0.5)), full = try error(.init(alpha: 1))
        print("[equalization] int8 logit rms error: off \(off), alpha 0.5 \(half), alpha 1 \(full)")
        XCTAssertLessThan(half, 0.7 * off)
        XCTAssertLessThan(full, 0.7 * off)
    }
}

/// The layers these tests build (seeded weights from the builder, 11 by default).
extension TestPlanBuilder {
    /// A stride-1 "same" conv; `rowScale[co]` multiplies output row co, `colScale[ci]` input column ci.
    mutating func conv(_ x: Int, _ cout: Int, k: Int, groups: Int = 1, act: Int64, residual: Int? = nil,
                       rowScale: [Float]? = nil, colScale: [Float]? = nil, name: String) -> Int {
        let s = values[x].shape, cin = s[1], cinG = cin / groups, coutG = cout / groups
        var w = (0..<(cout * cinG * k * k)).map { _ in rnd() * 0.5 }
        for i in w.indices {
            let co = i / (cinG * k * k), ci = (co / coutG) * cinG + (i / (k * k)) % cinG
            w[i] *= (rowScale?[co] ?? 1) * (colScale?[ci] ?? 1)
        }
        let b = (0..<cout).map { c in (abs(rnd()) * 0.1 + 1) * (rowScale?[c] ?? 1) }
        let y = value([1, cout, s[2], s[3]])
        let p = Int64(k / 2)
        let ints: [Int64] = [Int64(k), Int64(k), 1, 1, p, p, p, p, 1, 1, Int64(groups), 1, act, residual == nil ? 0 : 1]
        ops.append(PlanOp(kind: .conv2d, inputs: [x] + (residual.map { [$0] } ?? []), outputs: [y],
                          weights: [weight(w, [cout, cinG, k, k]), weight(b, [cout])], ints: ints, algorithm: .gemm))
        names.append(name)
        return y
    }
    mutating func maxPool(_ x: Int) -> Int {
        let s = values[x].shape
        let y = value([1, s[1], s[2] / 2, s[3] / 2])
        ops.append(PlanOp(kind: .maxPool2d, inputs: [x], outputs: [y], ints: [2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0]))
        names.append("pool")
        return y
    }
}
