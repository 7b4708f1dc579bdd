import SegcCore
import SegcIR
import SegcReference
import XCTest

/// `quantizeDequantize` (simulated int8) = ONNX QuantizeLinear (round half to even,
/// saturate) then DequantizeLinear, per tensor, in float32.
final class QuantizeDequantizeTests: XCTestCase {
    func run(_ x: [Float], _ q: QuantizeDequantize) throws -> [Float] {
        var t = OneNode()
        t.input("x", [1, 1, 1, x.count], x)
        return try t.run(.quantizeDequantize(q))[0]
    }

    func testRoundsHalfToEven() throws {
        let q = QuantizeDequantize(scale: 1, zeroPoint: 0, signed: true)
        XCTAssertEqual(try run([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999997, 2.5000002], q),
                       [0, 2, 2, 4, 0, -2, -2, 0, 3])
        // Ties after the division, with a zero point: 1.25/0.5 = 2.5 → 2, 1.75/0.5 = 3.5 → 4.
        let u = QuantizeDequantize(scale: 0.5, zeroPoint: 3, signed: false)
        XCTAssertEqual(try run([1.25, 1.75, -0.25, -0.75], u), [1.0, 2.0, 0.0, -1.0])
    }

    func testSaturatesToTheQuantizedRange() throws {
        // uint8, zero point 0: the clamp at 0 is the ReLU ORT's quantizer drops.
        let relu = QuantizeDequantize(scale: 0.1, zeroPoint: 0, signed: false)
        let y = try run([-3, -0.04, 0.26, 25.5, 25.54, 26, 1e30, -.infinity, .infinity], relu)
        let s: Float = 0.1
        XCTAssertEqual(y, [0, 0, 3 * s, 255 * s, 255 * s, 255 * s, 255 * s, 0, 255 * s])
        // int8 with a zero point: range [-128 - zp, 127 - zp] steps.
        let i8 = QuantizeDequantize(scale: 2, zeroPoint: 10, signed: true)
        XCTAssertEqual(try run([-1000, -276, -277, 234, 235, 1000], i8), [-276, -276, -276, 234, 234, 234])
        // uint8 with zero point 128: [-128, 127] steps.
        let mid = QuantizeDequantize(scale: 1, zeroPoint: 128, signed: false)
        XCTAssertEqual(try run([-200, -128.5, 126.5, 127.5, 200], mid), [-128, -128, 126, 127, 127])
    }

    func testNaNGoesToQmin() throws {
        let q = QuantizeDequantize(scale: 0.5, zeroPoint: 3, signed: false)
        XCTAssertEqual(try run([.nan], q), [-1.5])
    }

    /// Against ONNX's definition computed independently (Int arithmetic for the clamp).
    func testMatchesONNXDefinitionOnRandomValues() throws {
        var r = LCG(7)
        for (scale, zp, signed) in [(Float(0.0123), 0, false), (0.05, 131, false), (0.0371, -5, true), (1.0 / 255, 0, false)] {
            let q = QuantizeDequantize(scale: scale, zeroPoint: zp, signed: signed)
            let x = r.array(4096).map { $0 * 4 }
            let y = try run(x, q)
            let (qmin, qmax) = signed ? (-128, 127) : (0, 255)
            for i in x.indices {
                let v = Int((x[i] / scale).rounded(.toNearestOrEven)) + zp
                let want = Float(min(max(v, qmin), qmax) - zp) * scale
                XCTAssertEqual(y[i], want, "x = \(x[i]), scale \(scale), zp \(zp)")
            }
        }
    }

    func testVerifyRefusesBadParameters() {
        for q in [QuantizeDequantize(scale: 0, zeroPoint: 0, signed: false),
                  QuantizeDequantize(scale: .nan, zeroPoint: 0, signed: false),
                  QuantizeDequantize(scale: 1, zeroPoint: 256, signed: false),
                  QuantizeDequantize(scale: 1, zeroPoint: -129, signed: true),
                  QuantizeDequantize(scale: 1, zeroPoint: 0, qmin: 5, qmax: 5)] {
            var g = Graph()
            let x = g.addInput("x", ValueType(.f32, [1, 1, 1, 4]))
            XCTAssertThrowsError(try g.add(.quantizeDequantize(q), [x], name: "q"), "\(q)")
        }
    }

    func testDump() throws {
        var g = Graph()
        let x = g.addInput("x", ValueType(.f32, [1, 2, 1, 1]))
        g.outputs = try g.add(.quantizeDequantize(QuantizeDequantize(scale: 0.5, zeroPoint: 3, signed: false)), [x], name: "q")
        XCTAssertTrue(g.dump().contains("quantize_dequantize[scale=0.5 zp=3 q=0...255](%0) \"q\""), g.dump())
    }
}
