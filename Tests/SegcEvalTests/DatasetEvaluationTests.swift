import Foundation
import SegcCore
import SegcEval
import XCTest

private func parseHex(_ s: String) -> Double { Double(s) ?? .nan }

final class DatasetEvaluationTests: XCTestCase {
    private func requireData() throws {
        guard FileManager.default.fileExists(atPath: TestPaths.data) else { throw XCTSkip("no shared data") }
    }

    func testLayoutsAreEnumerated() throws {
        try requireData()
        let expected: [(String, DatasetKind, Int)] = [
            ("RoadAnomaly21", .roadanomaly21, 10), ("RoadObsticle21", .roadobstacle21, 15),
            ("FS_LostFound_full", .fs_lostfound, 10), ("fs_static", .fs_static, 30),
            ("RoadAnomaly", .roadanomaly, 30), ("cityscapes", .cityscapes, 4),
        ]
        for (folder, kind, count) in expected {
            let ds = try Dataset(directory: TestPaths.data + "/" + folder)
            XCTAssertEqual(ds.kind, kind, folder)
            XCTAssertEqual(ds.frames.count, count, folder)
            for f in ds.frames { XCTAssertTrue(FileManager.default.fileExists(atPath: f.label), f.label) }
        }
        XCTAssertEqual(try Dataset(directory: TestPaths.data + "/RoadAnomaly").labelMapping.map { [$0.from, $0.to] }, [[2, 1]])
        XCTAssertTrue(try Dataset(directory: TestPaths.data + "/fs_static").labelMapping.isEmpty)
        XCTAssertEqual(try Dataset(directory: TestPaths.data + "/fs_static", kind: .generic).frames.count, 30)
        XCTAssertThrowsError(try Dataset(directory: TestPaths.data + "/cityscapes_unlabeled"))
    }

    /// The protocol with a stand-in network (logits = the preprocessed input, score maxlogit)
    /// against Fixtures/eval/make_protocol_expectations.py: counts and metrics bit-exact.
    func testProtocolMatchesPythonReference() throws {
        try requireData()
        let url = URL(fileURLWithPath: TestPaths.fixtures + "/protocol_expectations.json")
        let exp = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [String: Any]] ?? [:]
        for name in ["RoadAnomaly21", "RoadObsticle21", "FS_LostFound_full", "fs_static", "RoadAnomaly"] {
            guard let e = exp[name] else { XCTFail("no expectation for \(name)"); continue }
            let ds = try Dataset(directory: TestPaths.data + "/" + name)
            let r = try evaluate(dataset: ds, width: 1024, height: 512, score: .maxLogit) { (x: [Float]) throws(SegcError) -> [Float] in x }
            XCTAssertEqual(r.framesUsed, e["used"] as? Int, name)
            XCTAssertEqual(r.framesSkipped, e["skipped"] as? Int, name)
            XCTAssertEqual(r.anomalyPixels, e["positives"] as? Int, name)
            XCTAssertEqual(r.inlierPixels, e["negatives"] as? Int, name)
            XCTAssertEqual(r.auprc, parseHex(e["auprc"] as? String ?? ""), name)
            XCTAssertEqual(r.fpr95, parseHex(e["fpr95"] as? String ?? ""), name)
            let t = r.timing
            print(String(format: "protocol %@: frames %d used %d skipped %d; ms decode %.0f resize %.0f network %.0f score %.0f metrics %.0f total %.0f",
                         name, r.frames, r.framesUsed, r.framesSkipped, t.decode, t.resize, t.network, t.score, t.metrics, t.total))
        }
        let ds = try Dataset(directory: TestPaths.data + "/cityscapes")
        let r = try evaluate(dataset: ds, width: 1024, height: 512) { (x: [Float]) throws(SegcError) -> [Float] in x }
        let c = exp["cityscapes"] ?? [:]
        XCTAssertEqual(r.miou, parseHex(c["miou"] as? String ?? ""))
        XCTAssertEqual(r.iou ?? [], (c["iou"] as? [String] ?? []).map(parseHex))
    }

    func testHeatmapAndSegmentationImages() throws {
        let scores: [Float] = [0, 0.5, 1, 2]
        let h = try Visualization.heatmap(scores: scores, width: 2, height: 2)
        XCTAssertEqual(Array(h.pixels[0..<3]), Array(Visualization.inferno[0..<3]))
        XCTAssertEqual(Array(h.pixels[9..<12]), Array(Visualization.inferno[765..<768]))
        let s = try Visualization.segmentation(classes: [0, 13, 19, 200], width: 2, height: 2)
        let rgb = s.convertedToRGB().pixels
        XCTAssertEqual(Array(rgb[0..<3]), [128, 64, 128])
        XCTAssertEqual(Array(rgb[3..<6]), [0, 0, 142])
        XCTAssertEqual(Array(rgb[6..<12]), [0, 0, 0, 0, 0, 0])
    }
}
