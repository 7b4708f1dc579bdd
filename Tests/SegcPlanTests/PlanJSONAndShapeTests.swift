import XCTest
import SegcCore
import SegcPlan

final class PlanJSONTests: XCTestCase {
    func parse(_ s: String) throws(SegcError) -> PlanJSON { try PlanJSON.parse(Array(s.utf8)) }

    func testRoundTripAndSortedKeys() throws {
        let v: PlanJSON = .object(["b": .array([.number(1), .number(-2.5), .number(1e-5), .number(0.1), .number(1e300)]),
                                   "a": .string("q\"\\/\n\u{1}é😀"), "c": .object([:]), "d": .array([]),
                                   "e": .null, "f": .bool(false)])
        let bytes = try v.encoded()
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"a":"q\"\\/\n\u0001é😀","b":[1,-2.5,1e-05,0.1,1e+300],"c":{},"d":[]"#), text)
        XCTAssertEqual(try PlanJSON.parse(bytes), v)
    }

    func testParsesStandardJSON() throws {
        let v = try parse(#" { "x" : [ 1 , 2.0e1 , -0 , "\u00e9\ud83d\ude00" ] , "y" : true } "#)
        XCTAssertEqual(v, .object(["x": .array([.number(1), .number(20), .number(0), .string("é😀")]), "y": .bool(true)]))
    }

    func testRefusesHostileJSON() {
        let bad = ["", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "1e", "nul", "tru", "\"abc",
                   "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"", "\"a\u{1}\"", "{\"a\":1,\"a\":2}", "1 2", "[1]]",
                   "1e400", String(repeating: "[", count: 100_000), String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
                   "{\"a\":" + String(repeating: "{\"a\":", count: 70) + "1" + String(repeating: "}", count: 71)]
        for s in bad {
            XCTAssertThrowsError(try parse(s), "accepted \(s.prefix(40))")
        }
        XCTAssertThrowsError(try PlanJSON.parse([0x22, 0xFF, 0x22]))  // invalid UTF-8
        // 64 levels are fine.
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertThrowsError(try PlanJSON.number(.infinity).encoded())
    }

    func testMetadataMissingKeyIsRefused() throws {
        var m = PlanMetadata()
        m.inputShape = [1, 3, 4, 4]; m.outputShape = [1, 2, 4, 4]
        let bytes = try PlanMetadataCodec.encode(m)
        XCTAssertEqual(try PlanMetadataCodec.decode(bytes), m)
        guard case .object(var o) = try PlanJSON.parse(bytes) else { return XCTFail() }
        o["unknown_key"] = .array([.null])
        XCTAssertEqual(try PlanMetadataCodec.decode(try PlanJSON.object(o).encoded()), m)
        o["temperature"] = nil
        XCTAssertThrowsError(try PlanMetadataCodec.decode(try PlanJSON.object(o).encoded())) { e in
            XCTAssertEqual((e as? SegcError)?.location, .key("temperature"))
        }
        o["temperature"] = .string("1")
        XCTAssertThrowsError(try PlanMetadataCodec.decode(try PlanJSON.object(o).encoded()))
    }
}

final class PlanShapeInferenceTests: XCTestCase {
    func pool(_ n: Int, k: Int, s: Int, p: Int, ceil: Bool) throws -> Int {
        let op = PlanOp(kind: .maxPool2d, inputs: [0], outputs: [1],
                        ints: [k, k, s, s, p, p, p, p, 1, 1, ceil ? 1 : 0, 0].map { Int64($0) })
        let out = try PlanShapeInference.infer(op, inputs: [PlanTensorType(.f32, [1, 1, n, n])])
        return out[0].shape[2]
    }

    func testPoolCeilModePyTorchRule() throws {
        XCTAssertEqual(try pool(6, k: 2, s: 3, p: 0, ceil: true), 2)   // last window would start at 6: dropped
        XCTAssertEqual(try pool(6, k: 2, s: 3, p: 0, ceil: false), 2)
        XCTAssertEqual(try pool(5, k: 2, s: 2, p: 0, ceil: true), 3)
        XCTAssertEqual(try pool(5, k: 2, s: 2, p: 0, ceil: false), 2)
        XCTAssertEqual(try pool(4, k: 2, s: 3, p: 1, ceil: true), 2)
        XCTAssertEqual(try pool(8, k: 3, s: 2, p: 1, ceil: true), 5)
        XCTAssertEqual(try pool(8, k: 3, s: 2, p: 1, ceil: false), 4)
        XCTAssertEqual(try pool(512, k: 2, s: 2, p: 0, ceil: false), 256)
    }

    func testConvShapes() throws {
        let x = PlanTensorType(.f32, [1, 16, 64, 128])
        func conv(_ ints: [Int64], _ w: [Int], kind: PlanOpKind = .conv2d) throws -> [Int] {
            let op = PlanOp(kind: kind, inputs: [0], outputs: [1], weights: [WeightRef(offset: 0, dtype: .f32, shape: w)], ints: ints)
            return try PlanShapeInference.infer(op, inputs: [x])[0].shape
        }
        // ERFNet non-bottleneck 3x1, dilation 2.
        XCTAssertEqual(try conv([3, 1, 1, 1, 2, 0, 2, 0, 2, 1, 1, 0, 0, 0], [16, 16, 3, 1]), [1, 16, 64, 128])
        // Stride 2 downsample.
        XCTAssertEqual(try conv([3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [13, 16, 3, 3]), [1, 13, 32, 64])
        // Depthwise.
        XCTAssertEqual(try conv([3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, 0, 0, 0], [16, 1, 3, 3]), [1, 16, 64, 128])
        // ERFNet upsampler: ConvTranspose2d(16, 8, 3, stride 2, padding 1, output_padding 1).
        XCTAssertEqual(try conv([3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], [16, 8, 3, 3], kind: .convTranspose2d),
                       [1, 8, 128, 256])
        // Output padding must be below the stride.
        XCTAssertThrowsError(try conv([3, 3, 2, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 0, 0, 0], [16, 8, 3, 3], kind: .convTranspose2d))
        // Kernel larger than the input.
        XCTAssertThrowsError(try conv([200, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0], [16, 16, 200, 3]))
        // Huge attributes do not trap.
        XCTAssertThrowsError(try conv([3, 3, 1, 1, Int64(Int32.max), 0, Int64(Int32.max), 0, 1, 1, 1, 0, 0, 0], [16, 16, 3, 3]))
        XCTAssertThrowsError(try conv([3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, Int64.max], [16, 16, 3, 3]))
    }

    func testBroadcastConcatPad() throws {
        let a = PlanTensorType(.f32, [1, 4, 8, 8])
        let add = PlanOp(kind: .add, inputs: [0, 1], outputs: [2])
        XCTAssertEqual(try PlanShapeInference.infer(add, inputs: [a, PlanTensorType(.f32, [4, 1, 1])])[0].shape, [1, 4, 8, 8])
        XCTAssertThrowsError(try PlanShapeInference.infer(add, inputs: [a, PlanTensorType(.f32, [3, 1, 1])]))
        let cat = PlanOp(kind: .concat, inputs: [0, 1], outputs: [2], ints: [1])
        XCTAssertEqual(try PlanShapeInference.infer(cat, inputs: [a, PlanTensorType(.f32, [1, 3, 8, 8])])[0].shape, [1, 7, 8, 8])
        XCTAssertThrowsError(try PlanShapeInference.infer(cat, inputs: [a, PlanTensorType(.f32, [1, 3, 8, 9])]))
        let pad = PlanOp(kind: .pad, inputs: [0], outputs: [1], ints: [0, 0, 1, -1, 0, 0, 2, 0], floats: [0])
        XCTAssertEqual(try PlanShapeInference.infer(pad, inputs: [a])[0].shape, [1, 4, 11, 7])
        let gap = PlanOp(kind: .globalAveragePool, inputs: [0], outputs: [1])
        XCTAssertEqual(try PlanShapeInference.infer(gap, inputs: [a])[0].shape, [1, 4, 1, 1])
    }
}
