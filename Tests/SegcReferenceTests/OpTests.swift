import SegcCore
import SegcIR
import SegcReference
import XCTest

/// Hand-computed cases for every op, plus convolutions checked against their
/// textbook definitions on random shapes.
final class OpTests: XCTestCase {
    // MARK: conv2d

    func testConvValid() throws {
        var t = OneNode()
        t.input("x", [1, 1, 3, 3], (1...9).map(Float.init))
        t.const("w", [1, 1, 2, 2], [1, 2, 3, 4])
        let y = try t.run(.conv2d(Conv2d(kh: 2, kw: 2, hasBias: false)))
        XCTAssertEqual(y[0], [37, 47, 67, 77])
    }

    func testConvPaddingStride() throws {
        var t = OneNode()
        t.input("x", [1, 1, 3, 3], (1...9).map(Float.init))
        t.const("w", [1, 1, 3, 3], [Float](repeating: 1, count: 9))
        let y = try t.run(.conv2d(Conv2d(kh: 3, kw: 3, stride: (2, 2), padding: (1, 1), hasBias: false)))
        XCTAssertEqual(t.shape(0), [1, 1, 2, 2])
        XCTAssertEqual(y[0], [12, 16, 24, 28])
    }

    func testConvDilation() throws {
        var t = OneNode()
        t.input("x", [1, 1, 5, 5], (0..<25).map(Float.init))
        t.const("w", [1, 1, 2, 2], [1, 1, 1, 1])
        let y = try t.run(.conv2d(Conv2d(kh: 2, kw: 2, dilation: (2, 2), hasBias: false)))
        XCTAssertEqual(t.shape(0), [1, 1, 3, 3])
        let expected: [Float] = (0..<9).map { (i: Int) -> Float in
            let r = i / 3, c = i % 3
            return Float(24 + 4 * (5 * r + c))
        }
        XCTAssertEqual(y[0], expected)
    }

    func testConvAsymmetricPadding() throws {
        var t = OneNode()
        t.input("x", [1, 1, 2, 2], [1, 2, 3, 4])
        t.const("w", [1, 1, 1, 1], [1])
        var c = Conv2d(kh: 1, kw: 1, hasBias: false)
        c.padTop = 1; c.padLeft = 0; c.padBottom = 0; c.padRight = 2
        let y = try t.run(.conv2d(c))
        XCTAssertEqual(t.shape(0), [1, 1, 3, 4])
        XCTAssertEqual(y[0], [0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0])
    }

    func testConvEpilogueOrder() throws {
        for (act, expected) in [(Activation.relu, [Float](arrayLiteral: 0, 0, 5)),
                                (.prelu, [-1, -0.5, 5]), (.none, [-2, -1, 5])] {
            var t = OneNode()
            t.input("x", [1, 1, 1, 3], [1, 2, 3])
            t.const("w", [1, 1, 1, 1], [1])
            t.const("b", [1], [-3])
            if act == .prelu { t.const("slope", [1], [0.5]) }
            t.input("res", [1, 1, 1, 3], [0, 0, 5])
            var c = Conv2d(kh: 1, kw: 1, hasBias: true)
            c.epilogue = Epilogue(activation: act, residual: true)
            XCTAssertEqual(try t.run(.conv2d(c))[0], expected, "\(act)")
        }
    }

    /// Direct definition with bounds checks per tap.
    static func naiveConv(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], _ bias: [Float]?, _ c: Conv2d) -> ([Float], [Int]) {
        let (n, cin, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let cout = ws[0], cinG = ws[1]
        let oh = (h + c.padTop + c.padBottom - c.dilationH * (c.kh - 1) - 1) / c.strideH + 1
        let ow = (wd + c.padLeft + c.padRight - c.dilationW * (c.kw - 1) - 1) / c.strideW + 1
        var y = [Float](repeating: 0, count: n * cout * oh * ow)
        for b in 0..<n { for co in 0..<cout { for oy in 0..<oh { for ox in 0..<ow {
            var s: Float = 0
            let g = co / (cout / c.groups)
            for cl in 0..<cinG { for ky in 0..<c.kh { for kx in 0..<c.kw {
                let iy = oy * c.strideH - c.padTop + ky * c.dilationH
                let ix = ox * c.strideW - c.padLeft + kx * c.dilationW
                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                    s += x[((b * cin + g * cinG + cl) * h + iy) * wd + ix] * w[((co * cinG + cl) * c.kh + ky) * c.kw + kx]
                }
            } } }
            y[((b * cout + co) * oh + oy) * ow + ox] = s + (bias?[co] ?? 0)
        } } } }
        _ = cin
        return (y, [n, cout, oh, ow])
    }

    func testConvMatchesDefinition() throws {
        var rng = LCG(7)
        for trial in 0..<40 {
            let g = [1, 2, 3][trial % 3]
            let cinG = 1 + trial % 2, coutG = 1 + (trial / 2) % 3
            let kh = 1 + trial % 3, kw = 1 + (trial / 3) % 3
            var c = Conv2d(kh: kh, kw: kw, stride: (1 + trial % 2, 1 + (trial / 4) % 3),
                           dilation: (1 + (trial / 5) % 2, 1 + (trial / 7) % 2), groups: g, hasBias: trial % 2 == 0)
            c.padTop = trial % 3; c.padLeft = (trial / 2) % 3; c.padBottom = (trial / 3) % 2; c.padRight = (trial / 5) % 3
            let xs = [1 + trial % 2, g * cinG, 4 + trial % 5, 5 + trial % 4]
            let ws = [g * coutG, cinG, kh, kw]
            let x = rng.array(xs.reduce(1, *)), w = rng.array(ws.reduce(1, *)), b = rng.array(ws[0])
            var t = OneNode()
            t.input("x", xs, x)
            t.const("w", ws, w)
            if c.hasBias { t.const("b", [ws[0]], b) }
            let y = try t.run(.conv2d(c))
            let (ref, shape) = Self.naiveConv(x, xs, w, ws, c.hasBias ? b : nil, c)
            XCTAssertEqual(t.shape(0), shape)
            assertClose(y[0], ref, "trial \(trial)")
        }
    }

    func testConvWideRowsSpanSeveralTiles() throws {
        // Rows wider than the interpreter's 16 KiB row tile (tiles of 1 and 2 rows).
        var rng = LCG(5)
        for width in [1500, 2100] {
            var c = Conv2d(kh: 3, kw: 3, stride: (1, 1), padding: (1, 1), dilation: (1, 2), hasBias: true)
            c.padRight = 2
            let xs = [1, 2, 5, width], ws = [3, 2, 3, 3]
            let x = rng.array(xs.reduce(1, *)), w = rng.array(ws.reduce(1, *)), b = rng.array(3)
            var t = OneNode()
            t.input("x", xs, x); t.const("w", ws, w); t.const("b", [3], b)
            let y = try t.run(.conv2d(c))
            let (ref, shape) = Self.naiveConv(x, xs, w, ws, b, c)
            XCTAssertEqual(t.shape(0), shape)
            assertClose(y[0], ref, "width \(width)")
        }
    }

    // MARK: conv_transpose2d

    func testConvTransposeHand() throws {
        var t = OneNode()
        t.input("x", [1, 1, 2, 2], [1, 2, 3, 4])
        t.const("w", [1, 1, 2, 2], [1, 1, 1, 1])
        t.const("b", [1], [0.5])
        let y = try t.run(.convTranspose2d(ConvTranspose2d(kh: 2, kw: 2, stride: (2, 2), padding: (0, 0),
                                                           outputPadding: (1, 1), hasBias: true)))
        XCTAssertEqual(t.shape(0), [1, 1, 5, 5])
        let rows: [[Float]] = [[1, 1, 2, 2, 0], [1, 1, 2, 2, 0], [3, 3, 4, 4, 0], [3, 3, 4, 4, 0], [0, 0, 0, 0, 0]]
        XCTAssertEqual(y[0], rows.flatMap { $0.map { $0 + 0.5 } })
    }

    /// Scatter definition: y[co, iy·s − p + ky·d, ix·s − p + kx·d] += x[ci, iy, ix]·W[ci, co, ky, kx].
    static func scatterConvT(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], _ c: ConvTranspose2d) -> ([Float], [Int]) {
        let (n, cin, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let coutG = ws[1], cout = coutG * c.groups, cinG = cin / c.groups
        let oh = (h - 1) * c.strideH - c.padTop - c.padBottom + c.dilationH * (c.kh - 1) + c.outputPaddingH + 1
        let ow = (wd - 1) * c.strideW - c.padLeft - c.padRight + c.dilationW * (c.kw - 1) + c.outputPaddingW + 1
        var y = [Float](repeating: 0, count: n * cout * oh * ow)
        for b in 0..<n { for ci in 0..<cin { for iy in 0..<h { for ix in 0..<wd {
            let g = ci / cinG
            for col in 0..<coutG { for ky in 0..<c.kh { for kx in 0..<c.kw {
                let oy = iy * c.strideH - c.padTop + ky * c.dilationH
                let ox = ix * c.strideW - c.padLeft + kx * c.dilationW
                if oy >= 0 && oy < oh && ox >= 0 && ox < ow {
                    y[((b * cout + g * coutG + col) * oh + oy) * ow + ox] +=
                        x[((b * cin + ci) * h + iy) * wd + ix] * w[((ci * coutG + col) * c.kh + ky) * c.kw + kx]
                }
            } } }
        } } } }
        return (y, [n, cout, oh, ow])
    }

    func testConvTransposeMatchesScatterDefinition() throws {
        var rng = LCG(11)
        for trial in 0..<30 {
            let g = [1, 2][trial % 2]
            let cinG = 1 + trial % 3, coutG = 1 + (trial / 3) % 2
            let kh = 1 + trial % 3, kw = 1 + (trial / 2) % 3
            let sh = 1 + trial % 3, sw = 1 + (trial / 3) % 2
            var c = ConvTranspose2d(kh: kh, kw: kw, stride: (sh, sw), padding: (0, 0),
                                    outputPadding: (trial % sh, (trial / 2) % sw),
                                    dilation: (1 + (trial / 4) % 2, 1), groups: g, hasBias: false)
            c.padTop = min(trial % 2, kh - 1); c.padBottom = min((trial / 2) % 2, kh - 1)
            c.padLeft = min((trial / 3) % 2, kw - 1); c.padRight = 0
            let xs = [1 + trial % 2, g * cinG, 2 + trial % 4, 2 + trial % 3]
            let ws = [g * cinG, coutG, kh, kw]
            let x = rng.array(xs.reduce(1, *)), w = rng.array(ws.reduce(1, *))
            var t = OneNode()
            t.input("x", xs, x)
            t.const("w", ws, w)
            let y = try t.run(.convTranspose2d(c))
            let (ref, shape) = Self.scatterConvT(x, xs, w, ws, c)
            XCTAssertEqual(t.shape(0), shape)
            assertClose(y[0], ref, "trial \(trial)")
        }
    }

    // MARK: pooling

    func testMaxPoolTiesPickFirstMax() throws {
        var t = OneNode()
        t.input("x", [1, 1, 2, 4], [1, 3, 3, 0,
                                    3, 2, 0, 3])
        let y = try t.run(.maxPool2d(Pool2d(kernel: 2, stride: 2, returnsIndices: true)))
        XCTAssertEqual(y[0], [3, 3])
        XCTAssertEqual(y[1], [1, 2])
        var u = OneNode()
        u.input("x", [1, 1, 2, 4], [Float](repeating: 1, count: 8))
        XCTAssertEqual(try u.run(.maxPool2d(Pool2d(kernel: 2, stride: 2, returnsIndices: true)))[1], [0, 2])
    }

    func testMaxPoolPadsWithMinusInfinity() throws {
        var t = OneNode()
        t.input("x", [1, 1, 2, 2], [-5, -6, -7, -8])
        let y = try t.run(.maxPool2d(Pool2d(kernel: 3, stride: 1, padding: 1, returnsIndices: true)))
        XCTAssertEqual(y[0], [-5, -5, -5, -5])
        XCTAssertEqual(y[1], [0, 0, 0, 0])
    }

    func testMaxPoolCeilMode() throws {
        for ceil in [false, true] {
            var t = OneNode()
            t.input("x", [1, 1, 5, 5], (0..<25).map(Float.init))
            let y = try t.run(.maxPool2d(Pool2d(kernel: 2, stride: 2, ceilMode: ceil, returnsIndices: true)))
            let expected: [Float] = ceil ? [6, 8, 9, 16, 18, 19, 21, 23, 24] : [6, 8, 16, 18]
            XCTAssertEqual(y[0], expected)
            XCTAssertEqual(y[1], expected)  // value == flat index here
        }
    }

    func testMaxPoolDilation() throws {
        var t = OneNode()
        t.input("x", [1, 1, 4, 4], [0, 9, 0, 1,
                                    8, 0, 7, 0,
                                    0, 2, 0, 3,
                                    6, 0, 5, 0])
        var p = Pool2d(kernel: 2, stride: 1, returnsIndices: true)
        p.dilationH = 2; p.dilationW = 2
        let y = try t.run(.maxPool2d(p))
        // window (0,0) covers (0,0),(0,2),(2,0),(2,2); (0,1): (0,1),(0,3),(2,1),(2,3) …
        XCTAssertEqual(y[0], [0, 9, 8, 0])
        XCTAssertEqual(y[1], [0, 1, 4, 5])  // all-zero windows: first tap
    }

    func testAvgPoolCountIncludePad() throws {
        for include in [false, true] {
            var t = OneNode()
            t.input("x", [1, 1, 3, 3], (1...9).map(Float.init))
            var p = Pool2d(kernel: 2, stride: 2, padding: 1)
            p.countIncludePad = include
            let y = try t.run(.avgPool2d(p))
            XCTAssertEqual(y[0], include ? [0.25, 1.25, 2.75, 7] : [1, 2.5, 5.5, 7])
        }
    }

    func testMaxUnpool() throws {
        var t = OneNode()
        t.input("x", [1, 1, 1, 2], [5, 6])
        t.constI64("i", [1, 1, 1, 2], [3, 0])
        XCTAssertEqual(try t.run(.maxUnpool2d(MaxUnpool2d(outputH: 2, outputW: 2)))[0], [6, 0, 0, 5])
    }

    func testMaxUnpoolRefusesOutOfRangeIndex() throws {
        var t = OneNode()
        t.input("x", [1, 1, 1, 2], [5, 6])
        t.constI64("i", [1, 1, 1, 2], [4, 0])
        XCTAssertThrowsError(try t.run(.maxUnpool2d(MaxUnpool2d(outputH: 2, outputW: 2)))) { e in
            XCTAssertEqual((e as? SegcError)?.location, .node("node"))
        }
    }

    func testPoolUnpoolRoundTrip() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 2, 4, 6]))
        let pooled = try g.add(.maxPool2d(Pool2d(kernel: 2, stride: 2, returnsIndices: true)), [x], name: "pool")
        let up = try g.add1(.maxUnpool2d(MaxUnpool2d(outputH: 4, outputW: 6)), pooled, name: "unpool")
        g.outputs = [up]
        var rng = LCG(3)
        let data = rng.array(48)
        let y = try ReferenceInterpreter.run(g, inputs: [data])[0]
        for pl in 0..<2 { for by in 0..<2 { for bx in 0..<3 {
            let cells = [(0, 0), (0, 1), (1, 0), (1, 1)].map { pl * 24 + (2 * by + $0.0) * 6 + 2 * bx + $0.1 }
            let m = cells.map { data[$0] }.max()!
            for c in cells { XCTAssertEqual(y[c], data[c] == m ? m : 0) }
        } } }
    }

    func testGlobalAveragePool() throws {
        var t = OneNode()
        t.input("x", [1, 2, 2, 2], [1, 2, 3, 4, -1, -1, -1, 7])
        XCTAssertEqual(try t.run(.globalAveragePool)[0], [2.5, 1])
    }

    // MARK: resize

    func testResizeNearestUpsample() throws {
        var t = OneNode()
        t.input("x", [1, 1, 2, 2], [1, 2, 3, 4])
        let y = try t.run(.resize(Resize(mode: .nearest, coordinates: .asymmetric, nearest: .floor, outputH: 4, outputW: 4)))
        XCTAssertEqual(y[0], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    func testResizeNearestRoundingModes() throws {
        // asymmetric, in 3 → out 4: source 0, 0.75, 1.5, 2.25
        let expected: [(Resize.NearestRounding, [Float])] = [
            (.floor, [10, 10, 11, 12]), (.ceil, [10, 11, 12, 12]),
            (.roundPreferFloor, [10, 11, 11, 12]), (.roundPreferCeil, [10, 11, 12, 12]),
        ]
        for (mode, e) in expected {
            var t = OneNode()
            t.input("x", [1, 1, 1, 3], [10, 11, 12])
            let y = try t.run(.resize(Resize(mode: .nearest, coordinates: .asymmetric, nearest: mode, outputH: 1, outputW: 4)))
            XCTAssertEqual(y[0], e, "\(mode)")
        }
        // half_pixel + round_prefer_ceil (PyTorch nearest-exact), 4 → 2: source 0.5, 2.5 → 1, 3
        var t = OneNode()
        t.input("x", [1, 1, 1, 4], [10, 11, 12, 13])
        let y = try t.run(.resize(Resize(mode: .nearest, coordinates: .halfPixel, nearest: .roundPreferCeil, outputH: 1, outputW: 2)))
        XCTAssertEqual(y[0], [11, 13])
    }

    func testResizeLinearCoordinateModes() throws {
        let cases: [(Resize.Coordinates, Int, [Float])] = [
            (.halfPixel, 4, [1, 1.25, 1.75, 2]),          // sources −0.25→0, 0.25, 0.75, 1.25→1
            (.pytorchHalfPixel, 4, [1, 1.25, 1.75, 2]),
            (.alignCorners, 3, [1, 1.5, 2]),
            (.asymmetric, 4, [1, 1.5, 2, 2]),             // sources 0, 0.5, 1, 1.5
        ]
        for (coords, out, e) in cases {
            var t = OneNode()
            t.input("x", [1, 1, 1, 2], [1, 2])
            let y = try t.run(.resize(Resize(mode: .linear, coordinates: coords, outputH: 1, outputW: out)))
            XCTAssertEqual(y[0], e, "\(coords)")
        }
        // 2-D bilinear, half pixel, 2x2 → 4x4
        var t = OneNode()
        t.input("x", [1, 1, 2, 2], [0, 4, 8, 12])
        let y = try t.run(.resize(Resize(mode: .linear, coordinates: .halfPixel, outputH: 4, outputW: 4)))
        XCTAssertEqual(y[0], [0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12])
    }

    func testResizeOutputSizeOne() throws {
        // pytorch_half_pixel maps to source 0 when the output size is 1; half_pixel to the centre.
        for (coords, e) in [(Resize.Coordinates.pytorchHalfPixel, Float(1)), (.halfPixel, 2.5), (.alignCorners, 1)] {
            var t = OneNode()
            t.input("x", [1, 1, 1, 4], [1, 2, 3, 4])
            let y = try t.run(.resize(Resize(mode: .linear, coordinates: coords, outputH: 1, outputW: 1)))
            XCTAssertEqual(y[0], [e], "\(coords)")
        }
    }

    // MARK: elementwise and per-channel

    func testBatchNorm() throws {
        var t = OneNode()
        t.input("x", [1, 2, 1, 2], [1, 2, 3, 4])
        t.const("scale", [2], [2, 1]); t.const("bias", [2], [0, 1])
        t.const("mean", [2], [1, 3]); t.const("var", [2], [3, 0])
        XCTAssertEqual(try t.run(.batchNorm(BatchNorm(epsilon: 1)))[0], [0, 1, 1, 2])
    }

    func testChannelAffine() throws {
        var t = OneNode()
        t.input("x", [1, 2, 1, 2], [1, 2, 3, 4])
        t.const("scale", [2], [2, -1]); t.const("bias", [2], [1, 0])
        XCTAssertEqual(try t.run(.channelAffine)[0], [3, 5, -3, -4])
    }

    func testActivations() throws {
        var t = OneNode()
        t.input("x", [1, 2, 1, 2], [-2, 3, -10, 0])
        XCTAssertEqual(try t.run(.relu)[0], [0, 3, 0, 0])
        var p = OneNode()
        p.input("x", [1, 2, 1, 2], [-2, 3, -10, 0])
        p.const("a", [2], [0.5, 0.1])
        XCTAssertEqual(try p.run(.prelu)[0], [-1, 3, -1, 0])
        var q = OneNode()
        q.input("x", [1, 2, 1, 2], [-4, 2, -8, 0])
        q.const("a", [1], [0.25])
        XCTAssertEqual(try q.run(.prelu)[0], [-1, 2, -2, 0])
        var s = OneNode()
        s.input("x", [3], [0, 100, -100])
        let y = try s.run(.sigmoid)[0]
        XCTAssertEqual(y[0], 0.5); XCTAssertEqual(y[1], 1); XCTAssertEqual(y[2], 0, accuracy: 1e-30)
    }

    func testBroadcasting() throws {
        let a = (0..<6).map(Float.init)
        let b: [Float] = [10, 20, 30, 40]
        for (op, f) in [(Op.add, { (p: Float, q: Float) in p + q }), (.sub, { $0 - $1 }),
                        (.mul, { $0 * $1 }), (.div, { $0 / $1 })] {
            var t = OneNode()
            t.input("a", [2, 1, 3], a)
            t.const("b", [4, 1], b)
            let y = try t.run(op)[0]
            XCTAssertEqual(t.shape(0), [2, 4, 3])
            var e: [Float] = []
            for i in 0..<2 { for j in 0..<4 { for k in 0..<3 { e.append(f(a[i * 3 + k], b[j])) } } }
            XCTAssertEqual(y, e, "\(op.name)")
        }
        // [N,C,H,W] · [N,C,1,1]
        var t = OneNode()
        t.input("a", [1, 2, 1, 2], [1, 2, 3, 4])
        t.const("b", [1, 2, 1, 1], [10, 100])
        XCTAssertEqual(try t.run(.mul)[0], [10, 20, 300, 400])
    }

    func testConcat() throws {
        var t = OneNode()
        t.input("a", [1, 2, 2], [1, 2, 3, 4])
        t.input("b", [1, 1, 2], [5, 6])
        XCTAssertEqual(try t.run(.concat(axis: 1))[0], [1, 2, 3, 4, 5, 6])
        var u = OneNode()
        u.input("a", [1, 2, 2], [1, 2, 3, 4])
        u.input("b", [1, 2, 1], [7, 8])
        XCTAssertEqual(try u.run(.concat(axis: 2))[0], [1, 2, 7, 3, 4, 8])
        XCTAssertEqual(u.shape(0), [1, 2, 3])
        var v = OneNode()
        v.input("a", [1, 1], [1])
        v.input("b", [2, 1], [2, 3])
        v.input("c", [1, 1], [4])
        XCTAssertEqual(try v.run(.concat(axis: 0))[0], [1, 2, 3, 4])
    }

    func testPad() throws {
        var t = OneNode()
        t.input("x", [2, 2], [1, 2, 3, 4])
        let y = try t.run(.pad(Pad(pads: [1, -1, 0, 1], value: 9)))
        XCTAssertEqual(t.shape(0), [3, 2])
        XCTAssertEqual(y[0], [9, 9, 2, 9, 4, 9])
    }

    func testSoftmax() throws {
        var t = OneNode()
        t.input("x", [2, 3], [1, 2, 3, 0, 0, 1000])
        let y = try t.run(.softmax(axis: 1))[0]
        assertClose(y, [0.09003057, 0.24472847, 0.66524096, 0, 0, 1], tol: 1e-6)
        var u = OneNode()
        u.input("x", [2, 1], [0, 5])
        XCTAssertEqual(try u.run(.softmax(axis: 0))[0].reduce(0, +), 1, accuracy: 1e-6)
    }

    // MARK: graphs

    func testChainFreesIntermediatesAndReturnsRequestedValues() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 1, 2, 2]))
        let r = try g.add1(.relu, [x], name: "relu")
        let s = try g.add1(.add, [r, r], name: "double")
        let m = try g.add1(.mul, [s, r], name: "mul")
        g.outputs = [m]
        let input: [Float] = [-1, 1, 2, -3]
        XCTAssertEqual(try ReferenceInterpreter.run(g, inputs: [input]), [[0, 2, 8, 0]])
        XCTAssertEqual(try ReferenceInterpreter.evaluate(g, inputs: [input], values: [r, m, x]),
                       [[0, 1, 2, 0], [0, 2, 8, 0], input])
    }

    func testInputCountAndSizeChecked() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 1, 2, 2]))
        g.outputs = [try g.add1(.relu, [x], name: "relu")]
        XCTAssertThrowsError(try ReferenceInterpreter.run(g, inputs: []))
        XCTAssertThrowsError(try ReferenceInterpreter.run(g, inputs: [[1, 2, 3]]))
    }
}
