import Foundation
import XCTest
import SegcCore
import SegcEval
import SegcPlan

/// `--guard` and `--fallback` of `run`, `eval` and `bench` on the demo model at 64x128: a
/// frame beyond the calibration images is reported and answered by the fallback plan, an
/// in-range frame is not, and a plan without a guard or a fallback of another shape is refused.
final class RangeGuardCommandTests: XCTestCase {
    /// (fp32 plan, its int8 plan calibrated on 3 copies of the demo frame, the folder).
    func plans() throws -> (fp32: String, int8: String, dir: URL) {
        let dir = try CLI.tempDir()
        let q = QuantizeCommandTests(name: "plans", testClosure: { _ in })
        let fp32 = try q.demoPlan(dir)
        try q.frameFolder(dir.appendingPathComponent("calib"), copies: 3)
        let int8 = dir.appendingPathComponent("m.int8.segc").path
        let r = try CLI.run(["quantize", fp32, "--calib", dir.appendingPathComponent("calib").path, "-o", int8,
                             "--fp32-layers", "none", "--quiet", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThan(try CLI.json(r.stdout)["range_guard_tensors"] as? Int ?? 0, 10)
        return (fp32, int8, dir)
    }

    func testRunReportsAndFallsBackOnAFrameBeyondCalibration() throws {
        let (fp32, int8, dir) = try plans()
        defer { try? FileManager.default.removeItem(at: dir) }
        let frame = QuantizeCommandTests(name: "frame", testClosure: { _ in }).frame
        // The demo frame four times as bright: far past every calibration image.
        let bright = dir.appendingPathComponent("bright.npy").path
        try Npy.write(try Image.networkInput(contentsOf: frame, width: 128, height: 64).map { $0 * 4 }, shape: [1, 3, 64, 128], to: bright)
        let inRange = try CLI.run(["run", int8, frame, "--guard", "--json"])
        XCTAssertEqual(inRange.status, 0, inRange.stderr)
        let g0 = try XCTUnwrap(((try CLI.json(inRange.stdout)["inputs"] as? [[String: Any]])?.first)?["range_guard"] as? [String: Any])
        XCTAssertEqual(g0["out_of_range"] as? Bool, false)

        let guarded = dir.appendingPathComponent("g.npy").path, want = dir.appendingPathComponent("f.npy").path
        let r = try CLI.run(["run", int8, bright, "--fallback", fp32, "-o", guarded, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let g = try XCTUnwrap(((try CLI.json(r.stdout)["inputs"] as? [[String: Any]])?.first)?["range_guard"] as? [String: Any])
        XCTAssertEqual(g["out_of_range"] as? Bool, true)
        XCTAssertEqual(g["fallback_used"] as? Bool, true)
        XCTAssertFalse((g["tensors"] as? [[String: Any]] ?? []).isEmpty)
        XCTAssertEqual(try CLI.run(["run", fp32, bright, "-o", want]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: guarded)), try Data(contentsOf: URL(fileURLWithPath: want)),
                       "the flagged frame's logits are the fallback's")
        // The plan's own float twin as the fallback: flagged, answered, and not the int8 logits.
        let twinOut = dir.appendingPathComponent("t.npy").path, int8Out = dir.appendingPathComponent("i.npy").path
        let tw = try CLI.run(["run", int8, bright, "--fallback-float", "-o", twinOut, "--json"])
        XCTAssertEqual(tw.status, 0, tw.stderr)
        let tg = try XCTUnwrap(((try CLI.json(tw.stdout)["inputs"] as? [[String: Any]])?.first)?["range_guard"] as? [String: Any])
        XCTAssertEqual(tg["fallback_used"] as? Bool, true)
        XCTAssertEqual(try CLI.run(["run", int8, bright, "-o", int8Out]).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: twinOut)), try Data(contentsOf: URL(fileURLWithPath: int8Out)))
        let both = try CLI.run(["run", int8, bright, "--fallback-float", "--fallback", fp32])
        XCTAssertEqual(both.status, 2, both.stderr)   // usage error
        let fpTwin = try CLI.run(["run", fp32, frame, "--fallback-float"])
        assertCleanError(fpTwin, "fp32 plan with --fallback-float")
        let human = try CLI.run(["run", int8, bright, "--guard"])
        XCTAssertTrue(human.stdout.contains("range guard: out of the calibrated range in "), human.stdout)

        // Refusals: a plan without a guard; a fallback of another input size. Nothing written.
        let none = dir.appendingPathComponent("none.npy").path
        let noGuard = try CLI.run(["run", fp32, frame, "--guard", "-o", none])
        assertCleanError(noGuard, "fp32 plan with --guard")
        XCTAssertTrue(noGuard.stderr.contains("\(fp32): the plan has no range guard"), noGuard.stderr)
        let small = dir.appendingPathComponent("small.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        XCTAssertEqual(try CLI.run(["convert", model, "-o", small, "--input-size", "32x64", "--quiet"]).status, 0)
        let other = try CLI.run(["run", int8, frame, "--fallback", small, "-o", none])
        assertCleanError(other, "fallback of another size")
        XCTAssertTrue(other.stderr.contains("\(small): fallback plan maps [1, 3, 32, 64]"), other.stderr)
        // A model as the fallback is converted at the int8 plan's size (64x128), not 512x1024.
        let fromModel = dir.appendingPathComponent("fm.npy").path
        let fm = try CLI.run(["run", int8, bright, "--fallback", model, "-o", fromModel])
        XCTAssertEqual(fm.status, 0, fm.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fromModel)), try Data(contentsOf: URL(fileURLWithPath: want)),
                       "the model converted at 64x128 answers as the fp32 plan")
        let normalised = dir.appendingPathComponent("norm.segc").path
        XCTAssertEqual(try CLI.run(["convert", model, "-o", normalised, "--input-size", "64x128", "--quiet",
                                    "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]).status, 0)
        let pre = try CLI.run(["run", int8, frame, "--fallback", normalised, "-o", none])
        assertCleanError(pre, "fallback with other preprocessing")
        XCTAssertTrue(pre.stderr.contains("\(normalised): fallback plan preprocesses its input differently"), pre.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: none))
        let bench = try CLI.run(["bench", fp32, "--guard", "--runs", "1", "--warmup", "0"])
        assertCleanError(bench, "bench --guard on an fp32 plan")
        let b = try CLI.run(["bench", int8, "--guard", "--runs", "1", "--warmup", "0", "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let cost = try XCTUnwrap(try CLI.json(b.stdout)["range_guard"] as? [String: Any])
        XCTAssertGreaterThan(cost["unchecked_median_ms"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(cost["checked_median_ms"] as? Double ?? 0, 0)
    }

    /// A plan with two outputs (an ONNX model with two heads): `run -o DIR` writes every output
    /// of the network that answered the frame. It wrote the int8 session's, which stops at the
    /// first tensor past its limit when a fallback answers: NaN and zeros where the fallback's
    /// logits were announced. A fallback with other outputs is refused.
    func testRunWritesEveryOutputOfTheFallbackForAMultiOutputPlan() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let q = QuantizeCommandTests(name: "plans", testClosure: { _ in })
        let fp32 = dir.appendingPathComponent("two.segc").path, int8 = dir.appendingPathComponent("two.int8.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/channels/two_heads_opset17.onnx").path
        XCTAssertEqual(try CLI.run(["convert", model, "-o", fp32, "--quiet"]).status, 0)
        try q.frameFolder(dir.appendingPathComponent("calib"), copies: 3)
        let r = try CLI.run(["quantize", fp32, "--calib", dir.appendingPathComponent("calib").path, "-o", int8,
                             "--fp32-layers", "none", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let bright = dir.appendingPathComponent("bright.npy").path
        try Npy.write(try Image.networkInput(contentsOf: q.frame, width: 16, height: 12).map { $0 * 4 }, shape: [1, 3, 12, 16], to: bright)
        func outputs(_ args: [String], _ name: String) throws -> [String: [Float]] {
            let out = dir.appendingPathComponent(name).path
            let r = try CLI.run(["run"] + args + ["-o", out, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try Dictionary(uniqueKeysWithValues: ["seg", "aux"].map { ($0, try Npy.read(contentsOf: "\(out)/\($0).npy").floats) })
        }
        let f = try outputs([fp32, bright], "f"), i = try outputs([int8, bright], "i")
        let t = try outputs([int8, bright, "--fallback-float"], "t")
        for k in ["seg", "aux"] {
            func far(_ a: [Float]) -> Float { zip(a, f[k]!).map { abs($0 - $1) }.max() ?? .infinity }
            XCTAssertTrue(t[k]!.allSatisfy { $0.isFinite }, k)
            XCTAssertLessThan(far(t[k]!), far(i[k]!), "\(k): the twin's output, closer to fp32 than int8's")
        }
        let g = try outputs([int8, bright, "--fallback", fp32], "g")
        XCTAssertEqual(g, f, "a flagged frame's outputs are the fallback's, every one")
        // A fallback whose outputs differ (the fp32 plan without its second head): it was taken,
        // and only the first output was the fallback's. Refused now, nothing written.
        var head = try PlanReader.read(path: fp32)
        head.metadata.extraOutputs = []
        let one = dir.appendingPathComponent("one.segc").path
        try PlanWriter.write(head, to: one)
        let none = dir.appendingPathComponent("none").path
        let other = try CLI.run(["run", int8, bright, "--fallback", one, "-o", none])
        assertCleanError(other, "fallback with other outputs")
        XCTAssertFalse(FileManager.default.fileExists(atPath: none))
    }

    /// eval counts the flagged frames; when the guard flags every frame, the scores are the
    /// fallback's exactly.
    func testEvalCountsFlaggedFramesAndScoresThemWithTheFallback() throws {
        let (models, data, root) = try ReproduceTests.subset()
        _ = models
        let (fp32, int8, dir) = try plans()
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: root) }
        let ds = data + "/RoadAnomaly21"
        let f = try CLI.run(["eval", fp32, "--dataset", ds, "--score", "maxlogit", "--json", "--quiet"])
        let i = try CLI.run(["eval", int8, "--dataset", ds, "--score", "maxlogit", "--json", "--quiet"])
        let g = try CLI.run(["eval", int8, "--dataset", ds, "--score", "maxlogit", "--json", "--quiet", "--fallback", fp32])
        for r in [f, i, g] { XCTAssertEqual(r.status, 0, r.stderr) }
        let gj = try CLI.json(g.stdout), guardJSON = try XCTUnwrap(gj["range_guard"] as? [String: Any])
        XCTAssertEqual(guardJSON["frames"] as? Int, 2)
        // Calibrated on one frame, RoadAnomaly21's two frames are both beyond it.
        XCTAssertEqual(guardJSON["out_of_range"] as? Int, 2)
        XCTAssertEqual(gj["auprc"] as? Double, try CLI.json(f.stdout)["auprc"] as? Double)
        XCTAssertNotEqual(try CLI.json(i.stdout)["auprc"] as? Double, try CLI.json(f.stdout)["auprc"] as? Double)
        XCTAssertNil(try CLI.json(i.stdout)["range_guard"])
        // stream counts them too (null without --guard).
        let sg = try CLI.run(["stream", int8, ds + "/images", "--guard", "--no-write", "--json", "--quiet"])
        XCTAssertEqual(sg.status, 0, sg.stderr)
        XCTAssertEqual(try CLI.json(sg.stdout)["out_of_range"] as? Int, 2)
        let s0 = try CLI.run(["stream", int8, ds + "/images", "--no-write", "--json", "--quiet"])
        XCTAssertTrue(try CLI.json(s0.stdout)["out_of_range"] is NSNull)
    }
}
