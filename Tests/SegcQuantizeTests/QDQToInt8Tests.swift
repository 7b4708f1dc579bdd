import XCTest
import SegcCore
import SegcIR
import SegcLower
import SegcPasses
import SegcPlan
import SegcQuantize
import SegcReference
import SegcRuntime
import SegcTorch

/// Real int8 from quantized source models, on a small ERFNet-like QDQ graph built here the
/// way ONNX Runtime's `quantize_static` writes one (ReLUs absorbed by zero-point-0 Q/DQ,
/// weights on per-channel int8 grids): the pass leaves grids where the source rounds, the
/// fusions respect them, and the int8 plan computes what the reference interpreter
/// computes for the Q/DQ graph, up to rounding ties.
final class QDQToInt8Tests: XCTestCase {
    struct Rng {
        var s: UInt64
        mutating func next() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(1 << 53)
        }
        mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() * Double(r.count)) % r.count }
    }

    static let output = QuantizeDequantize(scale: 0.02371, zeroPoint: 110, signed: false)

    /// Weights on an int8 grid per output channel (axis 0, or axis 1 for a transposed conv);
    /// channel 0 holds a −128 (FX's symmetric range).
    func gridWeights(_ shape: [Int], axis: Int, _ r: inout Rng) -> Tensor {
        let n = shape.reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *), c = shape[axis]
        let fanIn = Double(n / c)
        let scales = (0..<c).map { _ in Float((0.5 + r.next()) * 2 / fanIn.squareRoot() / 127) }
        var w = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let ch = (i / inner) % c
            w[i] = Float(r.int(-127...127)) * scales[ch]
        }
        w[0] = -128 * scales[0]
        return Tensor(w, shape: shape)
    }

    func constant(_ g: inout Graph, _ name: String, _ v: [Float]) -> ValueID {
        g.addConstant(name, Tensor(v, shape: [v.count]))
    }

    /// input → Q/DQ → downsampler (conv ‖ pool, concat, BN) → a non-bottleneck-like block
    /// (3x1 conv, 1x3 conv, add) → 2x2 transposed conv → Q/DQ → output. `middle` is the
    /// Q/DQ after the 3x1 conv (uint8 zero point 0 as ORT writes it, or a signed one).
    /// Scales are not simple ratios of each other (calibrated scales never are): with
    /// 3/255 against 4/255, exact .5 ties are common and float and integer arithmetic
    /// break them differently.
    func graph(middle: QuantizeDequantize = QuantizeDequantize(scale: 0.01213, zeroPoint: 0, signed: false)) throws -> Graph {
        var r = Rng(s: 14)
        var g = Graph()
        func qdq(_ x: ValueID, _ scale: Float, _ zp: Int, _ name: String) throws -> ValueID {
            try g.add1(.quantizeDequantize(QuantizeDequantize(scale: scale, zeroPoint: zp, signed: false)), [x], name: name)
        }
        let input = g.addInput("input", ValueType(.f32, [1, 3, 16, 16]))
        let x = try qdq(input, 1 / 255, 0, "input.q")
        let wd = g.addConstant("down.w", gridWeights([5, 3, 3, 3], axis: 0, &r))
        var a = try g.add1(.conv2d(Conv2d(kh: 3, kw: 3, stride: (2, 2), padding: (1, 1), hasBias: true)),
                           [x, wd, constant(&g, "down.b", (0..<5).map { _ in Float(r.next() - 0.5) })], name: "down.conv")
        a = try qdq(a, 0.01587, 128, "down.conv.q")
        var p = try g.add1(.maxPool2d(Pool2d(kernel: 2, stride: 2)), [x], name: "down.pool")
        p = try qdq(p, 1 / 255, 0, "down.pool.q")
        var cat = try g.add1(.concat(axis: 1), [a, p], name: "down.cat")
        cat = try qdq(cat, 0.01603, 131, "down.cat.q")
        let bn = try g.add1(.batchNorm(BatchNorm(epsilon: 1e-3)), [cat,
                            constant(&g, "bn.g", (0..<8).map { _ in Float(0.5 + r.next()) }),
                            constant(&g, "bn.b", (0..<8).map { _ in Float(r.next() - 0.3) }),
                            constant(&g, "bn.m", (0..<8).map { _ in Float(r.next() - 0.5) * 0.2 }),
                            constant(&g, "bn.v", (0..<8).map { _ in Float(0.5 + r.next()) })], name: "down.bn")
        let r0 = try qdq(bn, 0.01173, 0, "down.relu.q")
        var t = try g.add1(.conv2d(Conv2d(kh: 3, kw: 1, padding: (1, 0), hasBias: true)),
                           [r0, g.addConstant("b.w1", gridWeights([8, 8, 3, 1], axis: 0, &r)), constant(&g, "b.b1", [Float](repeating: 0.05, count: 8))],
                           name: "block.conv3x1")
        t = try g.add1(.quantizeDequantize(middle), [t], name: "block.conv3x1.q")
        t = try g.add1(.conv2d(Conv2d(kh: 1, kw: 3, padding: (0, 1), hasBias: true)),
                       [t, g.addConstant("b.w2", gridWeights([8, 8, 1, 3], axis: 0, &r)), constant(&g, "b.b2", [Float](repeating: -0.05, count: 8))],
                       name: "block.conv1x3")
        t = try qdq(t, 0.01641, 140, "block.conv1x3.q")
        var s = try g.add1(.add, [t, r0], name: "block.add")
        s = try qdq(s, 0.01697, 0, "block.relu.q")
        var y = try g.add1(.convTranspose2d(ConvTranspose2d(kh: 2, kw: 2, stride: (2, 2), padding: (0, 0), hasBias: true)),
                           [s, g.addConstant("up.w", gridWeights([8, 4, 2, 2], axis: 1, &r)), constant(&g, "up.b", [0.1, -0.1, 0.2, 0])],
                           name: "up.conv")
        y = try g.add1(.quantizeDequantize(Self.output), [y], name: "output.q")
        g.outputs = [y]
        try g.verify()
        return g
    }

    func input() -> [Float] {
        var r = Rng(s: 3)
        return (0..<(3 * 16 * 16)).map { _ in Float(r.next()) }
    }

    func int8Plan(_ source: Graph) throws -> (PlanFile, Graph) {
        var g = source
        _ = try Pipeline.run(Pipeline.optimiseQuantized, on: &g)
        var meta = PlanMetadata()
        meta.classes = 4
        let (plan, values) = try Lowering.lowerMapped(g, metadata: meta)
        return (try QDQToInt8.lower(plan, grids: QDQToInt8.grids(g, values)), g)
    }

    func testGridsReplaceQDQAndTheFusionsKeepEveryRounding() throws {
        var g = try graph()
        _ = try Pipeline.run(Pipeline.optimiseQuantized, on: &g)
        func node(_ name: String) -> Node? { g.nodes.first { $0.name == name } }
        // Only the output's Q/DQ is left: the model's logits are rounded.
        XCTAssertEqual(g.nodes.filter { if case .quantizeDequantize = $0.op { true } else { false } }.map(\.name), ["output.q"])
        // The 3x1 conv's zero-point-0 Q/DQ was its ReLU: fused, on the same grid.
        guard case .conv2d(let c1)? = node("block.conv3x1")?.op else { return XCTFail("no 3x1 conv") }
        XCTAssertEqual(c1.epilogue.activation, .relu)
        // The 1x3 conv's output is rounded before the add: no residual fusion; the add's
        // ReLU (its zero-point-0 Q/DQ) is explicit.
        guard case .conv2d(let c2)? = node("block.conv1x3")?.op else { return XCTFail("no 1x3 conv") }
        XCTAssertFalse(c2.epilogue.residual)
        XCTAssertNotNil(node("block.add"))
        XCTAssertEqual(node("block.relu.q").map { if case .relu = $0.op { true } else { false } }, true)
        // The concat is rounded before the BN: not split over the branches, not folded.
        XCTAssertEqual(g.nodes.filter { if case .channelAffine = $0.op { true } else { false } }.count, 1)
        XCTAssertEqual(node("down.cat").map { g.values[$0.outputs[0].index].grid?.zeroPoint }, 131)
        // The input's zero-point-0 Q/DQ clamps: an explicit ReLU on the input.
        XCTAssertEqual(node("input.q").map { if case .relu = $0.op { true } else { false } }, true)
    }

    func testInt8PlanMatchesTheQDQGraph() throws {
        let source = try graph()
        let (plan, _) = try int8Plan(source)
        XCTAssertEqual(plan.metadata.precision, "int8")
        let kinds = plan.graph.ops.map(\.kind)
        XCTAssertFalse(kinds.contains(.conv2d) || kinds.contains(.convTranspose2d) || kinds.contains(.add), "\(kinds)")
        XCTAssertEqual(kinds.filter { $0 == .qconv2d }.count, 4, "three convs and the add")
        let bytes = try PlanWriter.serialize(plan)
        let back = try PlanReader.read(FileBytes(bytes: bytes, name: "qdq.segc"))
        let x = input()
        let got = try SegcSession(model: try SegcModel(plan: back), threads: 2).run(x)
        let want = try ReferenceInterpreter.run(source, inputs: [x])[0]
        XCTAssertEqual(got.count, want.count)
        var off = 0, worst: Float = 0
        for i in got.indices {
            let steps = abs(got[i] - want[i]) / Self.output.scale
            worst = max(worst, steps)
            if steps > 0.5 { off += 1 }
        }
        print("[qdq-int8] mini QDQ net: \(off) of \(got.count) outputs off the Q/DQ graph's, at most \(worst) steps")
        // Same rounding points (0 off when written): only a float-vs-integer tie may move a
        // value by a step. Fusing the add into the conv, or the BN into the concat's branches,
        // puts several percent of the outputs a step or more off.
        XCTAssertLessThanOrEqual(off, got.count / 200)
        XCTAssertLessThanOrEqual(worst, 1.01)
    }

    func testSignedQDQStaysSimulated() throws {
        let source = try graph(middle: QuantizeDequantize(scale: 0.01213, zeroPoint: 0, signed: true))
        let (plan, g) = try int8Plan(source)
        XCTAssertTrue(g.nodes.contains { $0.name == "block.conv3x1.q" }, "the signed Q/DQ is kept")
        XCTAssertEqual(plan.graph.ops.filter { $0.kind == .quantizeDequantize }.count, 2)
        let x = input()
        let got = try SegcSession(model: try SegcModel(plan: plan), threads: 1).run(x)
        let want = try ReferenceInterpreter.run(source, inputs: [x])[0]
        let off = zip(got, want).filter { abs($0 - $1) > Self.output.scale / 2 }.count
        XCTAssertLessThanOrEqual(off, got.count / 100)
    }

    func testWeightsKeepTheirSourceGrid() {
        // Channel 0 on max|w| / 128 (with −128), channel 1 on a coarse grid (a per-tensor
        // source's channel: kept exactly, on the finest grid ≤ 127 levels that holds it),
        // channel 2 not on a grid.
        let s0: Float = 0.01, s1: Float = 0.003
        var w: [Float] = [-128 * s0, 127 * s0, 5 * s0, 40 * s1, -17 * s1, 3 * s1, 0.1234, -0.0577, 0.0321]
        let q = QuantizedWeights.conv(w, shape: [3, 3, 1, 1], keepGrid: true)
        XCTAssertEqual(Array(q.values[0..<3]), [-128, 127, 5])
        XCTAssertEqual(q.scales[0], s0, accuracy: 1e-9)
        for i in 3..<6 { XCTAssertEqual(Float(q.values[i]) * q.scales[1], w[i], accuracy: 1e-7) }
        XCTAssertEqual(q.scales[2], 0.1234 / 127, accuracy: 1e-9)
        // Without keepGrid: max|w| / 127 everywhere, −128 never.
        let plain = QuantizedWeights.conv(w, shape: [3, 3, 1, 1])
        XCTAssertEqual(plain.values[0], -127)
        w[0] = 0
        XCTAssertEqual(QuantizedWeights.conv(w, shape: [3, 3, 1, 1], keepGrid: true).values[0], 0)
    }

    /// FX checkpoint qparams → Q/DQ nodes where FX quantizes.
    func testFXQParamsBecomeQDQNodes() throws {
        var g = Graph()
        let x = g.addInput("input", ValueType(.f32, [1, 2, 4, 4]))
        let w = g.addConstant("m.conv.weight", Tensor([Float](repeating: 0.1, count: 4), shape: [2, 2, 1, 1]))
        let w2 = g.addConstant("blk.conv.weight", Tensor([Float](repeating: 0.1, count: 4), shape: [2, 2, 1, 1]))
        var a = try g.add1(.conv2d(Conv2d(kh: 1, kw: 1, hasBias: false)), [x, w], name: "m.conv")
        a = try g.add1(.relu, [a], name: "m.conv.relu")
        let a2 = try g.add1(.conv2d(Conv2d(kh: 1, kw: 1, hasBias: false)), [a, w2], name: "blk.conv")
        let p = try g.add1(.maxPool2d(Pool2d(kernel: 1, stride: 1)), [a2], name: "blk.pool")
        let s = try g.add1(.add, [p, a], name: "blk.add")
        g.outputs = [try g.add1(.relu, [s], name: "blk.relu")]
        try g.verify()
        func scalar(_ v: Float) -> Tensor { Tensor([v], shape: []) }
        let tensors: [(key: String, tensor: Tensor)] = [
            ("m_conv_input_scale_0", scalar(1 / 255)), ("m_conv_input_zero_point_0", scalar(0)),
            ("m.conv.scale", scalar(0.02)), ("m.conv.zero_point", scalar(0)),
            ("blk.conv.scale", scalar(0.03)), ("blk.conv.zero_point", scalar(70)),
            ("blk_scale_0", scalar(0.04)), ("blk_zero_point_0", scalar(0)),
            ("blk.dropout.scale", scalar(0.03)), ("blk.dropout.zero_point", scalar(70)),
        ]
        let (n, warnings) = try FXActivationGrids.insert(into: &g, tensors: tensors, file: "t.pth")
        try g.verify()
        XCTAssertEqual(n, 5, "input, m.conv (after its ReLU), blk.conv, the pool (its input's), blk (after blk.relu)")
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("blk.dropout"), warnings[0])
        func reader(of name: String) -> Node? {
            guard let v = g.nodes.first(where: { $0.name == name })?.outputs[0] ?? (name == "input" ? x : nil) else { return nil }
            return g.nodes.first { $0.inputs.contains(v) }
        }
        func grid(after name: String) -> QuantizeDequantize? {
            if case .quantizeDequantize(let q)? = reader(of: name)?.op { return q } else { return nil }
        }
        XCTAssertEqual(grid(after: "input")?.scale, 1 / 255)
        XCTAssertNil(grid(after: "m.conv"), "FX's ConvReLU output is the ReLU's")
        XCTAssertEqual(grid(after: "m.conv.relu")?.scale, 0.02)
        XCTAssertEqual(grid(after: "blk.conv")?.zeroPoint, 70)
        XCTAssertEqual(grid(after: "blk.pool")?.zeroPoint, 70)
        XCTAssertEqual(grid(after: "blk.relu")?.scale, 0.04)
        // The graph output is the rounded block output.
        XCTAssertEqual(g.nodes.first { $0.outputs.contains(g.outputs[0]) }?.name, "blk.relu.quant")

        var plain = Graph()
        _ = plain.addInput("input", ValueType(.f32, [1, 2, 4, 4]))
        XCTAssertThrowsError(try FXActivationGrids.insert(into: &plain, tensors: [], file: "t.pth"))
    }
}
