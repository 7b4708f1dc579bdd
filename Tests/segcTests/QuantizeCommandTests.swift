import Foundation
import XCTest

/// `segc quantize` end to end on the demo model at a small size, and its refusals:
/// bad calibration input gives a clear error (or a warning) and never a partial plan.
final class QuantizeCommandTests: XCTestCase {
    func demoPlan(_ dir: URL) throws -> String {
        let plan = dir.appendingPathComponent("m.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        let r = try CLI.run(["convert", model, "-o", plan, "--input-size", "64x128", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return plan
    }

    var frame: String { CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path }

    /// `folder` (created) holding `copies` copies of the demo frame, f0.jpg, f1.jpg, ….
    func frameFolder(_ folder: URL, copies: Int) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for k in 0..<copies { try FileManager.default.copyItem(atPath: frame, toPath: folder.appendingPathComponent("f\(k).jpg").path) }
    }

    func testQuantizesRunsAndRefusesItsOwnOutput() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try demoPlan(dir)
        let calib = dir.appendingPathComponent("calib/nested")
        try frameFolder(calib, copies: 3)
        // Labels beside the frames are skipped (gtFine / labels_masks folders).
        let labels = dir.appendingPathComponent("calib/labels_masks")
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        try Data("not an image".utf8).write(to: labels.appendingPathComponent("x.png"))
        let out = dir.appendingPathComponent("m.int8.segc").path
        let r = try CLI.run(["quantize", plan, "--calib", dir.appendingPathComponent("calib").path, "-o", out, "--json",
                             "--fp32-layers", "none"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertEqual(j["precision"] as? String, "int8")
        // A machine without VNNI is told that int8 will not be faster there (not with --quiet).
        let vnni = (j["int8_kernel"] as? String ?? "").hasSuffix("vnni")
        XCTAssertEqual(r.stderr.contains("note: this CPU has no VNNI"), !vnni, r.stderr)
        let noVNNI = try CLI.run(["quantize", plan, "--calib", calib.path, "-o", dir.appendingPathComponent("n.segc").path,
                                  "--fp32-layers", "none"], environment: ["SEGC_NO_VNNI": "1"])
        XCTAssertEqual(noVNNI.status, 0, noVNNI.stderr)
        XCTAssertTrue(noVNNI.stderr.contains("note: this CPU has no VNNI (int8 kernel "), noVNNI.stderr)
        // --headroom: recorded, validated.
        let wide = try CLI.run(["quantize", plan, "--calib", calib.path, "-o", dir.appendingPathComponent("h.segc").path,
                                "--fp32-layers", "none", "--headroom", "2", "--json", "--quiet"])
        XCTAssertEqual(wide.status, 0, wide.stderr)
        XCTAssertEqual(try CLI.json(wide.stdout)["headroom"] as? Double, 2)
        XCTAssertGreaterThan(try CLI.json(wide.stdout)["calib_agreement"] as? Double ?? 0, 0.8)
        let narrow = try CLI.run(["quantize", plan, "--calib", calib.path, "-o", dir.appendingPathComponent("h2.segc").path,
                                  "--headroom", "0.5"])
        XCTAssertNotEqual(narrow.status, 0)
        XCTAssertTrue(narrow.stderr.contains("--headroom must be in [1, 16]"), narrow.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("h2.segc").path))
        let quietNoVNNI = try CLI.run(["quantize", plan, "--calib", calib.path, "-o", dir.appendingPathComponent("n.segc").path,
                                       "--fp32-layers", "none", "--quiet"], environment: ["SEGC_NO_VNNI": "1"])
        XCTAssertEqual(quietNoVNNI.status, 0, quietNoVNNI.stderr)
        XCTAssertEqual(quietNoVNNI.stderr, "")
        XCTAssertEqual(j["calib_images"] as? Int, 3)
        XCTAssertGreaterThan(j["calib_agreement"] as? Double ?? 0, 0.8)
        XCTAssertLessThan(j["bytes_after"] as? Int ?? .max, j["bytes_before"] as? Int ?? 0)
        let inspect = try CLI.run(["inspect", out])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("int8"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("STAT"), inspect.stdout)
        let run = try CLI.run(["run", out, frame, "-o", dir.appendingPathComponent("l.npy").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        // bench names the int8 conv kernel of int8 plans: at avx2 AVX-VNNI where the CPU has
        // it (/proc/cpuinfo), vpmaddwd otherwise or with SEGC_NO_VNNI=1; not for fp32 plans.
        let bench = ["bench", out, "--kernels", "avx2", "--runs", "1", "--warmup", "0", "--json"]
        let b = try CLI.run(bench)
        if b.status == 0 {
            let avxVNNI = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").contains(" avx_vnni")
            XCTAssertEqual(try CLI.json(b.stdout)["int8_kernel"] as? String, avxVNNI ? "avx2/avx-vnni" : "avx2/vpmaddwd")
            let nv = try CLI.run(bench, environment: ["SEGC_NO_VNNI": "1"])
            XCTAssertEqual(nv.status, 0, nv.stderr)
            XCTAssertEqual(try CLI.json(nv.stdout)["int8_kernel"] as? String, "avx2/vpmaddwd")
            let f = try CLI.run(["bench", plan, "--runs", "1", "--warmup", "0", "--json"])
            XCTAssertEqual(f.status, 0, f.stderr)
            XCTAssertNil(try CLI.json(f.stdout)["int8_kernel"])
        } else {
            XCTAssertTrue(b.stderr.contains("this CPU has no avx2"), b.stderr)
        }
        let cmp = try CLI.run(["compare", plan, out, frame, "--json"])
        XCTAssertEqual(cmp.status, 0, cmp.stderr)
        XCTAssertGreaterThan(try CLI.json(cmp.stdout)["mean_agreement"] as? Double ?? 0, 0.8)
        // Another method from the stored histograms, without images; refused on another plan.
        let re = dir.appendingPathComponent("m.entropy.segc").path
        let st = try CLI.run(["quantize", plan, "--stats", out, "--method", "entropy", "--fp32-layers", "none", "-o", re, "--json"])
        XCTAssertEqual(st.status, 0, st.stderr)
        XCTAssertEqual(try CLI.json(st.stdout)["calib_images"] as? Int, 0)
        // The STAT section's channel means give the weights' bias correction without images.
        XCTAssertEqual(try CLI.json(st.stdout)["bias_correction_mode"] as? String, "weights")
        XCTAssertEqual(try CLI.run(["run", re, frame, "-o", dir.appendingPathComponent("e.npy").path]).status, 0)
        let other = dir.appendingPathComponent("other.segc").path
        XCTAssertEqual(try CLI.run(["convert", CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path,
                                    "-o", other, "--input-size", "32x64", "--quiet"]).status, 0)
        let bad = try CLI.run(["quantize", other, "--stats", out, "--fp32-layers", "none", "-o", dir.appendingPathComponent("y.segc").path])
        assertCleanError(bad, "stats of another plan")
        XCTAssertTrue(bad.stderr.contains("another fp32 plan"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.segc").path))
        // --no-stats: the same program without the STAT section, which --stats then misses.
        let lean = dir.appendingPathComponent("lean.segc").path
        let ln = try CLI.run(["quantize", plan, "--calib", calib.path, "--fp32-layers", "none", "--no-stats", "-o", lean, "--json", "--quiet"])
        XCTAssertEqual(ln.status, 0, ln.stderr)
        let full = dir.appendingPathComponent("full.segc").path
        XCTAssertEqual(try CLI.run(["quantize", plan, "--calib", calib.path, "--fp32-layers", "none", "-o", full, "--quiet"]).status, 0)
        XCTAssertLessThan(try CLI.json(ln.stdout)["bytes_after"] as? Int ?? .max, try Data(contentsOf: URL(fileURLWithPath: full)).count)
        let same = try CLI.run(["compare", full, lean, frame, "--json"])
        XCTAssertEqual(try CLI.json(same.stdout)["max_abs_diff"] as? Double, 0, same.stderr)
        let none = try CLI.run(["quantize", plan, "--stats", lean, "--fp32-layers", "none", "-o", dir.appendingPathComponent("y.segc").path])
        assertCleanError(none, "stats of a --no-stats plan")
        XCTAssertTrue(none.stderr.contains("no STAT section"), none.stderr)
        // An int8 plan is not quantized again.
        let again = try CLI.run(["quantize", out, "--calib", calib.path, "-o", dir.appendingPathComponent("x.segc").path])
        assertCleanError(again, "int8 input")
        XCTAssertTrue(again.stderr.contains("only fp32 plans"), again.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.segc").path))
    }

    /// `--equalize`: quantizes (groups reported in JSON and META), agrees with the fp32 plan,
    /// and is refused with `--stats`; an equalized plan's histograms are refused by `--stats`.
    func testEqualizeRunsAndItsHistogramsAreNotReused() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try demoPlan(dir)
        let calib = dir.appendingPathComponent("calib")
        try frameFolder(calib, copies: 2)
        let out = dir.appendingPathComponent("eq.int8.segc").path
        let r = try CLI.run(["quantize", plan, "--calib", calib.path, "--fp32-layers", "none", "--equalize", "--equalize-alpha", "0.75",
                             "-o", out, "--json", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertGreaterThan(j["equalized_groups"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(j["calib_agreement"] as? Double ?? 0, 0.8)
        // META.quantization (JSON text in the plan) records it.
        let meta = String(decoding: try Data(contentsOf: URL(fileURLWithPath: out)), as: UTF8.self)
        XCTAssertTrue(meta.contains("\"equalization\":{\"alpha\":0.75,\"clamp\":16,\"groups\":"), "META.quantization.equalization")
        let cmp = try CLI.run(["compare", plan, out, frame, "--json"])
        XCTAssertEqual(cmp.status, 0, cmp.stderr)
        XCTAssertGreaterThan(try CLI.json(cmp.stdout)["mean_agreement"] as? Double ?? 0, 0.8)
        let y = dir.appendingPathComponent("y.segc").path
        let reuse = try CLI.run(["quantize", plan, "--stats", out, "--fp32-layers", "none", "-o", y])
        assertCleanError(reuse, "stats of an equalized plan")
        XCTAssertTrue(reuse.stderr.contains("channel-equalized"), reuse.stderr)
        let both = try CLI.run(["quantize", plan, "--calib", calib.path, "--stats", out, "--equalize", "-o", y])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("--equalize needs --calib and no --stats"), both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: y))
    }

    /// `--weight-rounding gptq`: quantizes (JSON and META name it; the default plan's META
    /// does not), other int8 weights than nearest rounding, agrees with the fp32 plan; refused
    /// without --calib, and an unknown value is a usage error.
    func testWeightRoundingGPTQRunsAndIsRefusedWithoutImages() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try demoPlan(dir)
        let calib = dir.appendingPathComponent("calib")
        try frameFolder(calib, copies: 2)
        var bytes: [String: Data] = [:]
        for rounding in ["nearest", "gptq"] {
            let out = dir.appendingPathComponent("\(rounding).int8.segc").path
            let r = try CLI.run(["quantize", plan, "--calib", calib.path, "--fp32-layers", "none", "--weight-rounding", rounding,
                                 "-o", out, "--json", "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try CLI.json(r.stdout)
            XCTAssertEqual(j["weight_rounding"] as? String, rounding)
            XCTAssertGreaterThan(j["calib_agreement"] as? Double ?? 0, 0.8)
            bytes[rounding] = try Data(contentsOf: URL(fileURLWithPath: out))
            let meta = String(decoding: bytes[rounding]!, as: UTF8.self)
            XCTAssertEqual(meta.contains("per output channel, gptq rounding"), rounding == "gptq", "META.quantization.weights")
        }
        XCTAssertEqual(bytes["nearest"]!.count, bytes["gptq"]!.count)
        XCTAssertNotEqual(bytes["nearest"], bytes["gptq"])
        let y = dir.appendingPathComponent("y.segc").path
        let noImages = try CLI.run(["quantize", plan, "--stats", dir.appendingPathComponent("nearest.int8.segc").path,
                                    "--fp32-layers", "none", "--weight-rounding", "gptq", "-o", y])
        XCTAssertEqual(noImages.status, 2)
        XCTAssertTrue(noImages.stderr.contains("--weight-rounding gptq needs --calib"), noImages.stderr)
        let bad = try CLI.run(["quantize", plan, "--calib", calib.path, "--weight-rounding", "stochastic", "-o", y])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("unknown --weight-rounding"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: y))
    }

    /// `--target-each-image`: the mixed-precision search holds the target on the worst
    /// calibration image; without it only the mean has to reach it. Both rank the layers by
    /// the same sensitivity (the mean over the sensitivity images: less noisy than the worst).
    func testTargetEachImageHoldsOnTheWorstImage() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try demoPlan(dir)
        let calib = try CLI.sharedPath("data/fs_static/images")
        var worst: [Bool: Double] = [:]
        var ranking: [Bool: [String]] = [:]
        for each in [false, true] {
            let out = dir.appendingPathComponent("m\(each).int8.segc").path
            let r = try CLI.run(["quantize", plan, "--calib", calib, "--calib-count", "6", "--target-agreement", "0.995",
                                 "-o", out, "--json"] + (each ? ["--target-each-image"] : []))
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try CLI.json(r.stdout)
            let mean = try XCTUnwrap(j["calib_agreement"] as? Double), low = try XCTUnwrap(j["calib_agreement_min"] as? Double)
            XCTAssertLessThanOrEqual(low, mean)
            // The mean search says when its worst image is below the target, and what to do.
            XCTAssertEqual(r.stderr.contains("note: the worst calibration image agrees on"), !each && low < 0.995, r.stderr)
            XCTAssertGreaterThanOrEqual(each ? low : mean, 0.995, "the target holds on \(each ? "the worst image" : "the mean")")
            worst[each] = low
            // The image that decided the search, named.
            XCTAssertTrue((j["calib_worst_image"] as? String ?? "").hasPrefix(calib), "\(j["calib_worst_image"] ?? "nil")")
            let sens = try XCTUnwrap(j["sensitivity"] as? [[String: Any]])
            ranking[each] = sens.map { "\($0["layer"] ?? "") \($0["agreement"] ?? "")" }
        }
        XCTAssertGreaterThanOrEqual(worst[true]!, worst[false]!)
        XCTAssertFalse(ranking[false]!.isEmpty, "the all-int8 plan misses 0.995: layers are ranked")
        XCTAssertEqual(ranking[true]!, ranking[false]!)
    }

    func testBadCalibrationInput() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = try demoPlan(dir)
        let out = dir.appendingPathComponent("q.segc").path
        func quantize(_ calib: String) throws -> CLI.Result {
            try CLI.run(["quantize", plan, "--calib", calib, "-o", out, "--fp32-layers", "none"])
        }
        // Empty folder, a folder without images, a missing folder.
        let empty = dir.appendingPathComponent("empty"), text = dir.appendingPathComponent("text")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: text, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: text.appendingPathComponent("notes.txt"))
        for (d, what) in [(empty.path, "empty folder"), (text.path, "no images"), (dir.appendingPathComponent("nope").path, "missing")] {
            let r = try quantize(d)
            assertCleanError(r, what)
            XCTAssertTrue(r.stderr.contains(d), "\(what): names the folder: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), what)
        }
        // An unreadable (corrupt) image: error naming it, no plan.
        let bad = dir.appendingPathComponent("bad")
        try frameFolder(bad, copies: 1)
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).write(to: bad.appendingPathComponent("b.jpg"))
        let r = try quantize(bad.path)
        assertCleanError(r, "corrupt image")
        XCTAssertTrue(r.stderr.contains("b.jpg"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // One image: a warning, and a plan. A frame of another size is resized like any input.
        let one = dir.appendingPathComponent("one")
        try frameFolder(one, copies: 1)
        let w = try quantize(one.path)
        XCTAssertEqual(w.status, 0, w.stderr)
        XCTAssertTrue(w.stderr.contains("warning:") && w.stderr.contains("single image"), w.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out))
        // Unknown layer names are a usage error (exit 2) naming the layer, before any work.
        let l = try CLI.run(["quantize", plan, "--calib", one.path, "-o", dir.appendingPathComponent("l.segc").path,
                             "--fp32-layers", "no.such.layer", "--quiet"])
        XCTAssertEqual(l.status, 2, l.stderr)
        XCTAssertTrue(l.stderr.hasPrefix("error: ") && l.stderr.contains("no.such.layer"), l.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("l.segc").path))
    }
}
