import Foundation
import XCTest

/// Issue 7, end-to-end acceptance through the CLI: `segc eval` of a `.pth` on the shared
/// datasets matches the Python reference of the paper's protocol
/// (`Fixtures/eval/reference_eval.py` → `reference_eval_expected.json`: PyTorch + Pillow +
/// scikit-learn + ood_metrics) within 0.05 points of AuPRC, FPR95 and mIoU (5e-4 as
/// fractions), with identical frame and pixel counts. A quick subset; the full list is
/// `Fixtures/eval/compare_eval.py`.
final class EvalParityTests: XCTestCase {
    static let tolerance = 5e-4

    func expected(_ id: String) throws -> [String: Any] {
        let url = CLI.packageRoot.appendingPathComponent("Fixtures/eval/reference_eval_expected.json")
        let doc = try CLI.json(String(decoding: try Data(contentsOf: url), as: UTF8.self))
        guard let configs = doc["configs"] as? [String: Any], let c = configs[id] as? [String: Any] else {
            throw XCTSkip("\(id) not in reference_eval_expected.json")
        }
        return c
    }

    func double(_ o: [String: Any], _ k: String) -> Double? { (o[k] as? NSNumber)?.doubleValue }
    func int(_ o: [String: Any], _ k: String) -> Int? { (o[k] as? NSNumber)?.intValue }

    func checkAnomaly(_ id: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try expected(id)
        let model = try CLI.sharedPath("models/\(ref["model"] as! String)")
        let dataset = try CLI.sharedPath("data/\(ref["dataset"] as! String)")
        let score = ref["score"] as! String
        var args = ["eval", model, "--dataset", dataset, "--score", score, "--json"]
        if score == "msp" { args += ["--temperature", String(double(ref, "temperature") ?? 1)] }
        let r = try CLI.run(args)
        XCTAssertFalse(r.signalled, "\(id): crashed", file: file, line: line)
        XCTAssertEqual(r.status, 0, "\(id): \(r.stderr)", file: file, line: line)
        guard r.status == 0 else { return }
        let got = try CLI.json(r.stdout)
        for k in ["frames", "frames_used", "frames_skipped"] {
            XCTAssertEqual(int(got, k), int(ref, k), "\(id): \(k)", file: file, line: line)
        }
        let gp = got["pixels"] as? [String: Any] ?? [:], rp = ref["pixels"] as! [String: Any]
        for k in ["anomaly", "inlier", "ignored"] {
            XCTAssertEqual(int(gp, k), int(rp, k), "\(id): pixels.\(k)", file: file, line: line)
        }
        for k in ["auprc", "fpr95"] {
            guard let g = double(got, k), let e = double(ref, k) else {
                XCTFail("\(id): no \(k) in \(r.stdout.prefix(300))", file: file, line: line); continue
            }
            print("[eval-parity] \(id) \(k): segc \(g * 100) %, Python \(e * 100) %, |diff| \(abs(g - e) * 100) points")
            XCTAssertEqual(g, e, accuracy: Self.tolerance, "\(id): \(k)", file: file, line: line)
        }
    }

    func testMidenetMSPOnFsStatic() throws { try checkAnomaly("midenet_distilled/msp/fs_static") }

    func testMidenetMSPOnRoadAnomaly21() throws { try checkAnomaly("midenet_distilled/msp/RoadAnomaly21") }

    func testEnetVoidOnRoadAnomaly21() throws { try checkAnomaly("enet_void/void/RoadAnomaly21") }

    func testErfnetMIoUOnCityscapes() throws {
        let id = "erfnet_cityscapes/miou/cityscapes"
        let ref = try expected(id)
        let model = try CLI.sharedPath("models/erfnet_cityscapes.pth")
        let dataset = try CLI.sharedPath("data/cityscapes")
        let r = try CLI.run(["eval", model, "--dataset", dataset, "--json"])
        XCTAssertFalse(r.signalled, "\(id): crashed")
        XCTAssertEqual(r.status, 0, "\(id): \(r.stderr)")
        guard r.status == 0 else { return }
        let got = try CLI.json(r.stdout)
        XCTAssertEqual(int(got, "frames"), int(ref, "frames"), "\(id): frames")
        guard let g = double(got, "miou"), let e = double(ref, "miou") else { return XCTFail("\(id): no miou in \(r.stdout.prefix(300))") }
        print("[eval-parity] \(id): segc \(g * 100) %, Python \(e * 100) %, |diff| \(abs(g - e) * 100) points")
        XCTAssertEqual(g, e, accuracy: Self.tolerance, "\(id): miou")
        let gi = got["iou"] as? [String: Any] ?? [:], ri = ref["iou"] as! [String: Any]
        XCTAssertEqual(gi.count, 19, "\(id): per-class IoU count")
        for (name, v) in ri {
            guard let gv = (gi[name] as? NSNumber)?.doubleValue else { XCTFail("\(id): no IoU for \(name)"); continue }
            XCTAssertEqual(gv, (v as! NSNumber).doubleValue, accuracy: Self.tolerance, "\(id): IoU \(name)")
        }
    }
}
