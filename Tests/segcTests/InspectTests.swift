import XCTest

/// Issue 2: `segc inspect --json` reports the right tensor_count,
/// parameter_count and architecture for every file in ../shared/models
/// (figures from ../shared/models/README.md and networks.md §6).
final class InspectTests: XCTestCase {
    let expected: [(String, String, Int, Int, Int)] = [
        // file, architecture, classes, tensors, parameters
        ("enet_cityscapes.pth", "enet", 20, 631, 358_488),
        ("enet_legacy_checkpoint.pth", "enet", 20, 631, 358_488),
        ("enet_void.pth", "enet", 20, 631, 358_488),
        ("midenet_distilled.pth", "midenet", 20, 118, 63_155),
        ("erfnet_fx_int8_state.pth", "erfnet", 20, 393, 2_058_240),
        ("erfnet_cityscapes.pth", "erfnet", 20, 345, 2_066_836),
        ("bisenetv1_calibrated_random.pth", "bisenetv1", 19, 222, 13_425_721),
    ]

    func testInspectJSONForEveryModel() throws {
        for (file, arch, classes, tensors, params) in expected {
            let r = try CLI.run(["inspect", try CLI.sharedPath("models/\(file)"), "--json"])
            XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
            let j = try CLI.json(r.stdout)
            print("[inspect] \(file): architecture \(j["architecture"] ?? "-"), tensors \(j["tensor_count"] ?? "-"), parameters \(j["parameter_count"] ?? "-"), macs \(j["macs"] ?? "-")")
            XCTAssertEqual(j["architecture"] as? String, arch, file)
            XCTAssertEqual(j["classes"] as? Int, classes, file)
            XCTAssertEqual(j["tensor_count"] as? Int, tensors, file)
            XCTAssertEqual(j["parameter_count"] as? Int, params, file)
        }
    }

    /// GMACs at 512x1024 from networks.md §6 (GFLOPs / 2).
    func testMACsMatchNetworksDoc() throws {
        for (file, gmacs) in [("erfnet_cityscapes.pth", 26.61), ("enet_cityscapes.pth", 4.14), ("midenet_distilled.pth", 2.15),
                              ("bisenetv1_calibrated_random.pth", 29.58)] {
            let r = try CLI.run(["inspect", try CLI.sharedPath("models/\(file)"), "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let macs = try CLI.json(r.stdout)["macs"] as? Int ?? 0
            XCTAssertEqual(Double(macs) / 1e9, gmacs, accuracy: 0.01, file)
        }
    }

    func testHumanOutputNamesFormatAndArchitecture() throws {
        let r = try CLI.run(["inspect", try CLI.sharedPath("models/enet_legacy_checkpoint.pth")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("pth-legacy, enet, 20 classes, fp32"), r.stdout)
        XCTAssertTrue(r.stdout.contains("wrapper: 'state_dict'"), r.stdout)
    }
}
