import XCTest
import SegcCore
import SegcIR
import SegcONNX

/// QDQ import (ORT `quantize_static` output): activation QuantizeLinear →
/// DequantizeLinear pairs become single `quantizeDequantize` nodes with the pair's
/// per-tensor parameters; weight and bias DequantizeLinear fold into float32 constants.
final class QDQImportTests: XCTestCase {
    func testERFNetQDQImport() throws {
        let root = try sharedRoot()
        let path = root + "/onnx/bench/erfnet_512x1024_int8_qdq.onnx"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no \(path)") }
        let m = try ONNXImporter.load(path: path, inputSize: (64, 128))
        let h = opHistogram(m.graph)
        XCTAssertEqual(h["quantize_dequantize"], 101, "\(h)")
        XCTAssertEqual(h["conv2d"], 71, "\(h)")
        XCTAssertEqual(h["conv_transpose2d"], 3, "\(h)")
        XCTAssertNil(h["relu"], "ORT's quantizer removed the ReLUs; the uint8 clamp does their work")
        XCTAssertTrue(m.warnings.contains { $0.contains("simulated") }, "\(m.warnings)")
        // The first node quantizes the image: uint8, zero point 0, range [0, 255].
        guard let first = m.graph.nodes.first, case .quantizeDequantize(let q) = first.op else {
            return XCTFail("first node is \(m.graph.nodes.first?.op.name ?? "none")")
        }
        XCTAssertEqual(first.inputs, m.graph.inputs)
        XCTAssertEqual(q.qmin, 0); XCTAssertEqual(q.qmax, 255)
        XCTAssertTrue(q.scale > 0 && q.scale < 0.01, "\(q.scale)")
        // Weights are float32 constants (folded DequantizeLinear), none quantized.
        for (_, t) in m.graph.constants { XCTAssertEqual(t.dtype, .f32) }
    }
}
