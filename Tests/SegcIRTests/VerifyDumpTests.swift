import SegcCore
import SegcIR
import XCTest

final class VerifyDumpTests: XCTestCase {
    /// x → conv3x1(+bias, relu, +residual x) → maxpool with indices → unpool → output.
    func makeGraph() throws -> (Graph, conv: ValueID) {
        var g = Graph()
        let x = g.addInput("input", ValueType(.f32, [1, 2, 4, 4]))
        let w = g.addConstant("enc.conv.weight", Tensor([Float](repeating: 0.5, count: 12), shape: [2, 2, 3, 1]))
        let b = g.addConstant("enc.conv.bias", Tensor([0.1, -0.1], shape: [2]))
        var c = Conv2d(kh: 3, kw: 1, padding: (1, 0), hasBias: true)
        c.epilogue = Epilogue(activation: .relu, residual: true)
        let y = try g.add1(.conv2d(c), [x, w, b, x], name: "encoder.layers.1.conv3x1_1")
        let p = try g.add(.maxPool2d(Pool2d(kernel: 2, stride: 2, ceilMode: true, returnsIndices: true)), [y], name: "pool")
        let u = try g.add1(.maxUnpool2d(MaxUnpool2d(outputH: 4, outputW: 4)), p, name: "unpool")
        let r = try g.add1(.resize(Resize(mode: .linear, coordinates: .pytorchHalfPixel, outputH: 8, outputW: 8)), [u], name: "up")
        g.outputs = [r]
        return (g, y)
    }

    func testValidGraphVerifies() throws {
        let (g, _) = try makeGraph()
        XCTAssertNoThrow(try g.verify())
    }

    func testDumpIsStable() throws {
        let (g, _) = try makeGraph()
        let expected = """
        input %0 "input" : f32[1,2,4,4]
        const %1 "enc.conv.weight" : f32[2,2,3,1]
        const %2 "enc.conv.bias" : f32[2]
        %3 = conv2d[k=3x1 s=1x1 p=1,0,1,0 d=1x1 g=1 bias relu+res](%0, %1, %2, %0) "encoder.layers.1.conv3x1_1" : f32[1,2,4,4]
        %4, %5 = max_pool2d[k=2x2 s=2x2 p=0,0,0,0 d=1x1 ceil indices](%3) "pool" : f32[1,2,2,2], i64[1,2,2,2]
        %6 = max_unpool2d[out=4x4](%4, %5) "unpool" : f32[1,2,4,4]
        %7 = resize[linear pytorch_half_pixel out=8x8](%6) "up" : f32[1,2,8,8]
        output %7 "up"

        """
        XCTAssertEqual(g.dump(), expected)
        XCTAssertEqual(g.dump(), try makeGraph().0.dump())
    }

    func testDumpAttributesOfOtherOps() {
        XCTAssertEqual(Op.batchNorm(BatchNorm(epsilon: 0.001)).dumpAttributes, "eps=0.001")
        XCTAssertEqual(Op.concat(axis: 1).dumpAttributes, "axis=1")
        XCTAssertEqual(Op.relu.dumpAttributes, "")
        XCTAssertEqual(Op.pad(Pad(pads: [0, 0, 1, 1, 0, 0, 1, 1])).dumpAttributes, "pads=0,0,1,1,0,0,1,1 value=0.0")
        XCTAssertEqual(Op.resize(Resize(mode: .nearest, coordinates: .asymmetric, outputH: 2, outputW: 3)).dumpAttributes,
                       "nearest asymmetric floor out=2x3")
        var p = Pool2d(kernel: 3, stride: 1, padding: 1)
        p.countIncludePad = true
        XCTAssertEqual(Op.avgPool2d(p).dumpAttributes, "k=3x3 s=1x1 p=1,1,1,1 d=1x1 count_include_pad")
        XCTAssertEqual(Op.convTranspose2d(ConvTranspose2d(kh: 3, kw: 3, stride: (2, 2), padding: (1, 1),
                                                          outputPadding: (1, 1), hasBias: false)).dumpAttributes,
                       "k=3x3 s=2x2 p=1,1,1,1 op=1x1 d=1x1 g=1")
    }

    func assertRefused(_ g: Graph, node: String?, _ contains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try g.verify(), file: file, line: line) { e in
            guard let e = e as? SegcError else { return XCTFail("not a SegcError", file: file, line: line) }
            if let node { XCTAssertEqual(e.location, .node(node), "\(e)", file: file, line: line) }
            XCTAssertTrue(e.message.contains(contains), "\(e)", file: file, line: line)
        }
    }

    func testUseBeforeDefinitionRefused() throws {
        var (g, _) = try makeGraph()
        g.nodes.swapAt(1, 2)  // unpool before pool
        assertRefused(g, node: "unpool", "not defined before")
    }

    func testWrongRecordedTypeRefused() throws {
        var (g, conv) = try makeGraph()
        g.values[conv.index].type = ValueType(.f32, [1, 2, 4, 5])
        assertRefused(g, node: "encoder.layers.1.conv3x1_1", "infers to")
    }

    func testShapeMismatchRefusedNamingNode() throws {
        var (g, _) = try makeGraph()
        // residual operand swapped for the bias: shape inference fails inside the node.
        g.nodes[0].inputs[3] = ValueID(2)
        assertRefused(g, node: "encoder.layers.1.conv3x1_1", "residual")
    }

    func testOutOfRangeOperandRefused() throws {
        var (g, _) = try makeGraph()
        g.nodes[3].inputs = [ValueID(99)]
        assertRefused(g, node: "up", "out of range")
        var h = try makeGraph().0
        h.outputs = [ValueID(-1)]
        assertRefused(h, node: nil, "out of range")
    }

    func testDoubleDefinitionRefused() throws {
        var (g, _) = try makeGraph()
        g.nodes[3].outputs = [ValueID(6)]  // redefines the unpool output
        assertRefused(g, node: "up", "more than once")
    }

    func testUndefinedValueRefused() throws {
        var (g, _) = try makeGraph()
        g.values.append(Value(name: "orphan", type: ValueType(.f32, [1])))
        assertRefused(g, node: nil, "never defined")
    }

    func testHugeValueRefused() throws {
        var (g, conv) = try makeGraph()
        g.values[conv.index].type = ValueType(.f32, [1 << 20, 1 << 20, 1 << 20, 1 << 20])
        XCTAssertThrowsError(try g.verify()) { e in XCTAssertEqual((e as? SegcError)?.kind, .limit) }
    }

    func testConstantSizeMismatchRefused() throws {
        var (g, _) = try makeGraph()
        g.constants[ValueID(1)]?.storage = .f32([1, 2, 3])
        assertRefused(g, node: nil, "storage holds 3")
        var h = try makeGraph().0
        h.constants[ValueID(2)]?.storage = .i64([1, 2])
        assertRefused(h, node: nil, "storage kind")
    }

    func testQuantParamsChecked() throws {
        var g = Graph()
        let q = Tensor(dtype: .qi8, shape: [2, 3], storage: .i8([1, 2, 3, 4, 5, 6]),
                       quant: QuantParams(scales: [0.1, 0.2], zeroPoints: [0, 0], axis: 0))
        let c = g.addConstant("q", q)
        g.outputs = [c]
        XCTAssertNoThrow(try g.verify())
        g.constants[c]?.quant = QuantParams(scales: [0.1, 0.2, 0.3], zeroPoints: [0, 0, 0], axis: 0)
        assertRefused(g, node: nil, "3 scales")
        g.constants[c]?.quant = QuantParams(scales: [0.1, 0.2], zeroPoints: [0, 0], axis: nil)
        assertRefused(g, node: nil, "per-tensor")
        g.constants[c]?.quant = nil
        assertRefused(g, node: nil, "without quantization")
    }
}
