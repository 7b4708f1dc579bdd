import XCTest
import SegcCore
import SegcIR
@testable import SegcTorch

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
