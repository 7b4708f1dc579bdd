import XCTest
import SegcCore
import SegcIR
import SegcPrune
import SegcReference
import SegcPlan

/// Small graphs, one per coupling kind (issue 15): the pruned graph verifies; ratio 0
/// reproduces the outputs exactly; removing channels whose filters are identically zero
/// reproduces them exactly too; couplings that cannot be sliced are left alone.
/// Deterministic floats in [-1, 1).
final class TestFloats {
    var seed: UInt64 = 1
    func floats(_ n: Int) -> [Float] {
        (0..<n).map { _ in seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(seed >> 40) - (1 << 23)) / Float(1 << 23) }
    }
}

final class ChannelPruningTests: XCTestCase {
    let source = TestFloats()
    func floats(_ n: Int) -> [Float] { source.floats(n) }

    func conv(_ g: inout Graph, _ x: ValueID, cout: Int, k: Int = 3, act: Activation = .none, residual: ValueID? = nil,
              zero: [Int] = [], name: String) throws -> ValueID {
        let cin = g.type(of: x).shape[1]
        var w = floats(cout * cin * k * k), b = floats(cout)
        for c in zero { for i in 0..<(cin * k * k) { w[c * cin * k * k + i] = 0 }; b[c] = 0 }
        let wv = g.addConstant("\(name).w", Tensor(w, shape: [cout, cin, k, k]))
        let bv = g.addConstant("\(name).b", Tensor(b, shape: [cout]))
        var c = Conv2d(kh: k, kw: k, padding: (k / 2, k / 2), hasBias: true)
        c.epilogue = Epilogue(activation: act, residual: residual != nil)
        return try g.add1(.conv2d(c), [x, wv, bv] + (residual.map { [$0] } ?? []), name: name)
    }

    func run(_ g: Graph, _ input: [Float]) throws -> [Float] { try ReferenceInterpreter.run(g, inputs: [input])[0] }

    /// ERFNet-like: a residual ties conv0's and conv2's outputs into one group.
    func residualGraph(zeroInner: [Int] = [], zeroOuter: [Int] = []) throws -> Graph {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 8, 10]))
        let a = try conv(&g, x, cout: 8, act: .relu, zero: zeroOuter, name: "conv0")
        let b = try conv(&g, a, cout: 6, act: .relu, zero: zeroInner, name: "conv1")
        let c = try conv(&g, b, cout: 8, act: .relu, residual: a, zero: zeroOuter, name: "conv2")
        g.outputs = [try conv(&g, c, cout: 2, name: "head")]
        try g.verify()
        return g
    }

    func testResidualGroupsAndExactness() throws {
        let g = try residualGraph()
        let groups = ChannelGroups(g)
        let prunable = groups.groups.filter(\.prunable)
        XCTAssertEqual(prunable.map(\.channels).sorted(), [6, 8], "the inner group and the residual group")
        XCTAssertEqual(prunable.first { $0.channels == 8 }?.producers.count, 2, "conv0 and conv2 produce the residual group")
        let input = floats(3 * 8 * 10)
        let zero = try ChannelPruning.prune(g, options: .init(ratio: 0))
        XCTAssertEqual(try run(zero.graph, input), try run(g, input), "ratio 0 must change nothing")
        let half = try ChannelPruning.prune(g, options: .init(ratio: 0.5))
        XCTAssertEqual(half.kept.map(\.kept.count).sorted(), [3, 4])
        try half.graph.verify()
        XCTAssertEqual(half.graph.type(of: half.graph.outputs[0]).shape, [1, 2, 8, 10])
    }

    func testZeroFiltersAreRemovedWithoutChangingTheOutput() throws {
        let g = try residualGraph(zeroInner: [1, 4], zeroOuter: [0, 5])
        let input = floats(3 * 8 * 10)
        let r = try ChannelPruning.prune(g, options: .init(ratio: 0.34))   // ⌊0.34·6⌋ = ⌊0.34·8⌋ = 2
        XCTAssertEqual(Set(r.kept.map { Set(0..<$0.before).subtracting($0.kept) }), [[1, 4], [0, 5]])
        XCTAssertEqual(try run(r.graph, input), try run(g, input))
    }

    func testConcatMembersAreNotPruned() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 6, 6]))
        let a = try conv(&g, x, cout: 4, name: "a")
        let b = try conv(&g, x, cout: 4, name: "b")
        let cat = try g.add1(.concat(axis: 1), [a, b], name: "cat")
        g.outputs = [try conv(&g, cat, cout: 2, name: "head")]
        XCTAssertTrue(ChannelGroups(g).groups.allSatisfy { !$0.prunable })
        XCTAssertTrue(try ChannelPruning.prune(g, options: .init(ratio: 0.5)).kept.isEmpty)
    }

    func testTransposedConvolutionOutputAxisOne() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 5, 5]))
        let a = try conv(&g, x, cout: 8, act: .relu, name: "a")
        var w = floats(8 * 6 * 2 * 2), b = floats(6)
        for ci in 0..<8 { for k in 0..<4 { w[(ci * 6 + 2) * 4 + k] = 0 } }   // output channel 2 of the deconv is zero
        b[2] = 0
        let wv = g.addConstant("t.w", Tensor(w, shape: [8, 6, 2, 2])), bv = g.addConstant("t.b", Tensor(b, shape: [6]))
        let t = try g.add1(.convTranspose2d(ConvTranspose2d(kh: 2, kw: 2, stride: (2, 2), padding: (0, 0), hasBias: true)),
                           [a, wv, bv], name: "t")
        g.outputs = [try conv(&g, t, cout: 2, name: "head")]
        let input = floats(3 * 25)
        let r = try ChannelPruning.prune(g, options: .init(ratio: 1.0 / 6.0 + 1e-9))
        let deconvGroup = r.kept.first { $0.before == 6 }
        XCTAssertEqual(deconvGroup.map { Set(0..<6).subtracting($0.kept) }, [2])
        let full = try ChannelPruning.prune(g, options: .init(ratio: 0.2))
        try full.graph.verify()
        // Only the deconv's zero channel removed: exact.
        let only = try ChannelPruning.prune(g, options: .init(ratio: 0.17))
        if only.kept.allSatisfy({ $0.before == 6 || $0.kept.count == $0.before }) {
            XCTAssertEqual(try run(only.graph, input), try run(g, input))
        }
        XCTAssertEqual(try run(try ChannelPruning.prune(g, options: .init(ratio: 0)).graph, input), try run(g, input))
    }

    func testUnpoolIndicesFollowTheirChannels() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 8, 8]))
        let a = try conv(&g, x, cout: 8, act: .relu, zero: [3], name: "a")
        var p = Pool2d(kernel: 2, stride: 2)
        p.returnsIndices = true
        let pooled = try g.add(.maxPool2d(p), [a], name: "pool")
        let b = try conv(&g, pooled[0], cout: 8, act: .relu, zero: [3], name: "b")
        let u = try g.add1(.maxUnpool2d(MaxUnpool2d(outputH: 8, outputW: 8)), [b, pooled[1]], name: "unpool")
        g.outputs = [try conv(&g, u, cout: 2, name: "head")]
        let groups = ChannelGroups(g)
        XCTAssertEqual(groups.groups.filter(\.prunable).count, 1, "conv a, the pool, its indices, conv b and the unpool: one group")
        let input = floats(3 * 64)
        let r = try ChannelPruning.prune(g, options: .init(ratio: 0.125))
        XCTAssertEqual(r.kept.map { Set(0..<$0.before).subtracting($0.kept) }, [[3]])
        XCTAssertEqual(try run(r.graph, input), try run(g, input))
    }
}

/// Least-squares recovery (`prune --calib`) on a case built for it: a wide layer whose
/// channels are strongly correlated, pruned by half; refitting the consumer from
/// calibration activations must cut the output error.
final class RecoveryTests: XCTestCase {
    func testRecoveryReducesTheErrorOfAPrunedNetwork() throws {
        let t = TestFloats()
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 12, 12]))
        // conv0: 8 channels = 4 distinct filters, each duplicated with a small perturbation
        // (pruning one of a pair loses little information; a refit can compensate).
        var w0 = t.floats(4 * 3 * 9)
        w0 += w0.map { $0 * 0.9 }
        let w0v = g.addConstant("c0.w", Tensor(w0, shape: [8, 3, 3, 3]))
        let b0v = g.addConstant("c0.b", Tensor([Float](repeating: 0.1, count: 8), shape: [8]))
        let a = try g.add1(.conv2d(Conv2d(kh: 3, kw: 3, padding: (1, 1), hasBias: true)), [x, w0v, b0v], name: "c0")
        let w1v = g.addConstant("c1.w", Tensor(t.floats(2 * 8), shape: [2, 8, 1, 1]))
        let b1v = g.addConstant("c1.b", Tensor(t.floats(2), shape: [2]))
        g.outputs = [try g.add1(.conv2d(Conv2d(kh: 1, kw: 1, hasBias: true)), [a, w1v, b1v], name: "c1")]
        try g.verify()
        let result = try ChannelPruning.prune(g, options: .init(ratio: 0.5))
        XCTAssertEqual(result.kept.first?.kept.count, 4)
        let calib = (0..<12).map { _ in t.floats(3 * 144) }
        let recovered = try LeastSquaresRecovery.recover(original: g, pruned: result.graph, result: result,
                                                         metadata: PlanMetadata(), inputs: calib, ridge: 1e-6, threads: 1)
        func error(_ h: Graph) throws -> Double {
            var e = 0.0
            for _ in 0..<4 {
                let input = t.floats(3 * 144)
                let want = try ReferenceInterpreter.run(g, inputs: [input])[0], got = try ReferenceInterpreter.run(h, inputs: [input])[0]
                for (p, q) in zip(want, got) { let d = Double(p) - Double(q); e += d * d }
            }
            return e
        }
        let before = try error(result.graph), after = try error(recovered)
        print("[recovery] output squared error: pruned \(before), after least squares \(after)")
        XCTAssertLessThan(after, before * 0.05)
    }

    /// Output squared error of `h` against `g` on 4 random inputs of `count` elements.
    func squaredError(_ g: Graph, _ h: Graph, _ t: TestFloats, count: Int) throws -> Double {
        var e = 0.0
        for _ in 0..<4 {
            let input = t.floats(count)
            let want = try ReferenceInterpreter.run(g, inputs: [input])[0], got = try ReferenceInterpreter.run(h, inputs: [input])[0]
            for (p, q) in zip(want, got) { let d = Double(p) - Double(q); e += d * d }
        }
        return e
    }

    /// 8 channels = 4 filters and their copies scaled by 0.3 (so the copies rank lowest and
    /// pruning them loses nothing a refit cannot restore).
    /// Without a bias the copies are exactly proportional (a transposed conv cannot absorb
    /// a copy's constant term in one bias: how many taps reach an output depends on its phase).
    func duplicatedConv(_ g: inout Graph, _ x: ValueID, _ t: TestFloats, bias: Float = 0.1, act: Activation = .none) throws -> ValueID {
        var w0 = t.floats(4 * 3 * 9)
        w0 += w0.map { $0 * 0.3 }
        let w0v = g.addConstant("c0.w", Tensor(w0, shape: [8, 3, 3, 3]))
        let b0v = g.addConstant("c0.b", Tensor([Float](repeating: bias, count: 8), shape: [8]))
        var c = Conv2d(kh: 3, kw: 3, padding: (1, 1), hasBias: true)
        c.epilogue = Epilogue(activation: act)
        return try g.add1(.conv2d(c), [x, w0v, b0v], name: "c0")
    }

    /// ERFNet's decoder: a transposed conv (stride 2, output padding) reads the pruned
    /// channels; it is refitted like a conv (its weight is [Cin, Cout, kh, kw]).
    func testRecoveryRefitsATransposedConvolution() throws {
        let t = TestFloats()
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 10, 10]))
        let a = try duplicatedConv(&g, x, t, bias: 0)
        let wv = g.addConstant("t.w", Tensor(t.floats(8 * 2 * 9), shape: [8, 2, 3, 3]))
        let bv = g.addConstant("t.b", Tensor(t.floats(2), shape: [2]))
        let deconv = ConvTranspose2d(kh: 3, kw: 3, stride: (2, 2), padding: (1, 1), outputPadding: (1, 1), hasBias: true)
        g.outputs = [try g.add1(.convTranspose2d(deconv), [a, wv, bv], name: "t")]
        try g.verify()
        let result = try ChannelPruning.prune(g, options: .init(ratio: 0.5))
        XCTAssertEqual(result.kept.map(\.kept), [[0, 1, 2, 3]])
        let calib = (0..<12).map { _ in t.floats(3 * 100) }
        let recovered = try LeastSquaresRecovery.recover(original: g, pruned: result.graph, result: result,
                                                         metadata: PlanMetadata(), inputs: calib, ridge: 1e-6, threads: 1)
        try recovered.verify()
        let before = try squaredError(g, result.graph, t, count: 300), after = try squaredError(g, recovered, t, count: 300)
        print("[recovery] transposed conv: pruned \(before), after least squares \(after)")
        XCTAssertLessThan(after, before * 0.05)
    }
}

/// `remove-dead-channels` (convert's last pass): channels whose filters are all zero and
/// whose epilogue maps the bias to 0 go; a zero filter with a positive bias under ReLU is a
/// constant channel, not a dead one, and stays.
final class RemoveDeadChannelsTests: XCTestCase {
    func testDeadChannelsGoAndTheOutputStays() throws {
        let t = TestFloats()
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 3, 8, 10]))
        var w0 = t.floats(8 * 3 * 9), b0 = t.floats(8)
        for c in [1, 4, 6] { for i in 0..<27 { w0[c * 27 + i] = 0 } }
        b0[1] = -0.5; b0[4] = 0; b0[6] = 0.25      // 1 and 4 are dead under ReLU, 6 is the constant 0.25
        let w0v = g.addConstant("c0.w", Tensor(w0, shape: [8, 3, 3, 3])), b0v = g.addConstant("c0.b", Tensor(b0, shape: [8]))
        var c0 = Conv2d(kh: 3, kw: 3, padding: (1, 1), hasBias: true)
        c0.epilogue = Epilogue(activation: .relu)
        let a = try g.add1(.conv2d(c0), [x, w0v, b0v], name: "c0")
        let w1v = g.addConstant("c1.w", Tensor(t.floats(2 * 8 * 9), shape: [2, 8, 3, 3]))
        let b1v = g.addConstant("c1.b", Tensor(t.floats(2), shape: [2]))
        g.outputs = [try g.add1(.conv2d(Conv2d(kh: 3, kw: 3, padding: (1, 1), hasBias: true)), [a, w1v, b1v], name: "c1")]
        try g.verify()
        var h = g
        try RemoveDeadChannels().run(&h)
        try h.verify()
        XCTAssertEqual(h.type(of: h.nodes[0].outputs[0]).shape[1], 6, "channels 1 and 4 removed, 6 kept")
        let input = t.floats(3 * 80)
        let want = try ReferenceInterpreter.run(g, inputs: [input])[0], got = try ReferenceInterpreter.run(h, inputs: [input])[0]
        XCTAssertEqual(want, got)
    }
}
