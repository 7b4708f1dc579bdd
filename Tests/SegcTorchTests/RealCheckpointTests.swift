import XCTest
import SegcCore
import SegcIR
import SegcTorch

final class RealCheckpointTests: XCTestCase {
    func testEveryModelLoads() throws {
        let expected: [(String, Int, String, String?, String?)] = [
            ("enet_cityscapes.pth", 631, "pth-zip", nil, "module."),
            ("enet_legacy_checkpoint.pth", 631, "pth-legacy", "state_dict", "module."),
            ("enet_void.pth", 631, "pth-zip", nil, "module."),
            ("midenet_distilled.pth", 118, "pth-zip", nil, nil),
            ("erfnet_fx_int8_state.pth", 393, "pth-zip", nil, nil),
            ("erfnet_cityscapes.pth", 345, "pth-zip", nil, nil),
            ("bisenetv1_calibrated_random.pth", 222, "pth-zip", nil, nil),
        ]
        for (name, count, format, wrapper, prefix) in expected {
            let ck = try TorchCheckpoint.load(path: try modelPath(name))
            XCTAssertEqual(ck.tensors.count, count, name)
            XCTAssertEqual(ck.format, format, name)
            XCTAssertEqual(ck.wrapper, wrapper, name)
            XCTAssertEqual(ck.strippedPrefix, prefix, name)
            XCTAssertEqual(ck.torchDTypes.count, count, name)
            for (k, t) in ck.tensors {
                XCTAssertEqual(t.storage.count, t.shape.reduce(1, *), "\(name) \(k)")
                if prefix != nil { XCTAssertFalse(k.hasPrefix("module."), k) }
            }
        }
    }
}

/// Expected numbers below were obtained with torch 2.x:
/// `python3 -c "import torch; sd = torch.load(path, map_location='cpu', weights_only=True); print(repr(...))"`,
/// indexing the tensor (for quantized tensors `int_repr()`, `dequantize()`, `q_per_channel_scales()`).
final class RealCheckpointValueTests: XCTestCase {
    func testERFNetChannelsLastWeight() throws {
        let ck = try TorchCheckpoint.load(path: try modelPath("erfnet_cityscapes.pth"))
        // size [13,3,3,3], stride (27,1,9,3) in the file: channels-last, gathered to row-major.
        let t = try XCTUnwrap(ck.tensor("encoder.initial_block.conv.weight"))
        XCTAssertEqual(t.shape, [13, 3, 3, 3])
        XCTAssertEqual(t.dtype, .f32)
        guard case .f32(let a) = t.storage else { return XCTFail("not f32") }
        XCTAssertEqual(a[1 * 27 + 2 * 9 + 1 * 3 + 0], -0.5920687913894653)   // w[1,2,1,0]
        XCTAssertEqual(a[7 * 27 + 1 * 9 + 0 * 3 + 2], 0.014498729258775711)  // w[7,1,0,2]
        XCTAssertEqual(a[12 * 27 + 0 + 2 * 3 + 2], 0.0)                      // w[12,0,2,2]
        XCTAssertEqual(a.reduce(0.0) { $0 + Double($1) }, -4.303855726029724, accuracy: 1e-9)
        XCTAssertEqual(ck.torchDTypes["encoder.initial_block.conv.weight"], "float32")
    }

    func testBiSeNetViewAtStorageOffset() throws {
        let ck = try TorchCheckpoint.load(path: try modelPath("bisenetv1_calibrated_random.pth"))
        // storage_offset 1597331 into the shared 2,621,440-element storage.
        let t = try XCTUnwrap(ck.tensor("cp.resnet.layer2.0.conv1.weight"))
        XCTAssertEqual(t.shape, [128, 64, 3, 3])
        guard case .f32(let a) = t.storage else { return XCTFail("not f32") }
        XCTAssertEqual(a.count, 73728)
        XCTAssertEqual(a[0], -0.03098912350833416)
        XCTAssertEqual(a[12345], 0.0009518833830952644)
        XCTAssertEqual(a[73727], -0.01600305549800396)
        XCTAssertEqual(a.reduce(0.0) { $0 + Double($1) }, -12.694088587311626, accuracy: 1e-6)
    }

    func testInt8PerChannelAndPerTensor() throws {
        let ck = try TorchCheckpoint.load(path: try modelPath("erfnet_fx_int8_state.pth"))
        let t = try XCTUnwrap(ck.tensor("encoder.initial_block.conv.weight"))
        XCTAssertEqual(t.dtype, .qi8)
        XCTAssertEqual(t.shape, [13, 3, 3, 3])
        XCTAssertEqual(ck.torchDTypes["encoder.initial_block.conv.weight"], "qint8")
        let q = try XCTUnwrap(t.quant)
        XCTAssertEqual(q.axis, 0)
        XCTAssertEqual(q.scales.count, 13)
        XCTAssertEqual(q.scales[1], 0.03289271146059036)
        XCTAssertEqual(q.scales[12], 1.1920928955078125e-07)
        XCTAssertEqual(q.zeroPoints, [Int64](repeating: 0, count: 13))
        guard case .i8(let ints) = t.storage else { return XCTFail("not i8") }
        XCTAssertEqual(ints[48], -18)                                  // int_repr()[1,2,1,0]
        let f = t.floats()
        XCTAssertEqual(f[48], -0.5920687913894653)                     // dequantize()[1,2,1,0]
        XCTAssertEqual(f.reduce(0.0) { $0 + Double($1) }, -4.303855726029724, accuracy: 1e-9)

        // ConvTranspose2d weight: per_tensor_affine, non-contiguous (stride (1,64,32,16)).
        let w = try XCTUnwrap(ck.tensor("decoder.output_conv.weight"))
        XCTAssertEqual(w.shape, [16, 20, 2, 2])
        XCTAssertEqual(w.quant?.axis, nil)
        XCTAssertEqual(w.quant?.scales, [0.0051707676611840725])
        XCTAssertEqual(w.quant?.zeroPoints, [0])
        guard case .i8(let wi) = w.storage else { return XCTFail("not i8") }
        XCTAssertEqual(Array(wi.prefix(4)), [-90, -92, -85, -90])
        XCTAssertEqual(w.floats()[0], -0.4653690755367279)

        // 0-d tensors.
        let s = try XCTUnwrap(ck.tensor("decoder.output_conv.scale"))
        XCTAssertEqual(s.shape, [])
        XCTAssertEqual(s.storage, .f32([0.1036871001124382]))
        XCTAssertEqual(ck.tensor("decoder.output_conv.zero_point")?.storage, .i64([181]))

        var counts: [String: Int] = [:]
        for (_, d) in ck.torchDTypes { counts[d, default: 0] += 1 }
        XCTAssertEqual(counts, ["qint8": 74, "float32": 204, "int64": 115])
    }

    func testLegacyEqualsZip() throws {
        let zipped = try TorchCheckpoint.load(path: try modelPath("enet_cityscapes.pth"))
        let legacy = try TorchCheckpoint.load(path: try modelPath("enet_legacy_checkpoint.pth"))
        XCTAssertEqual(zipped.tensors.map(\.key), legacy.tensors.map(\.key))
        for (a, b) in zip(zipped.tensors, legacy.tensors) {
            XCTAssertEqual(a.tensor, b.tensor, a.key)
        }
        XCTAssertEqual(legacy.tensor("initial.bn.num_batches_tracked")?.storage, .i64([166880]))
        XCTAssertEqual(legacy.torchDTypes["initial.bn.num_batches_tracked"], "int64")
        let mid = try TorchCheckpoint.load(path: try modelPath("midenet_distilled.pth"))
        guard case .f32(let b)? = mid.tensor("classifier.bias")?.storage else { return XCTFail() }
        XCTAssertEqual(b[0], 4.252915859222412)
    }
}
