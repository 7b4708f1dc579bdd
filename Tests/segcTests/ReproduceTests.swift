import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import SegcEval

/// `segc reproduce`, `eval --report` and `run --overlay` on a small subset (MiDE-Net, a
/// few frames), so the suite stays fast; the full run is measured by hand (Docs/Notes.md).
final class ReproduceTests: XCTestCase {
    /// A models folder with MiDE-Net only and a data folder with 1 Cityscapes frame, 2
    /// RoadAnomaly21 frames and 3 fs_static frames (one without an anomaly pixel).
    static func subset() throws -> (models: String, data: String, root: URL) {
        let shared = try CLI.sharedPath("data")
        let root = try CLI.tempDir()
        let fm = FileManager.default
        let models = root.appendingPathComponent("models").path, data = root.appendingPathComponent("data").path
        try fm.createDirectory(atPath: models, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: models + "/midenet_distilled.pth",
                                  withDestinationPath: CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path)
        func link(_ rel: String) throws {
            let dest = data + "/" + rel
            try fm.createDirectory(atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: dest, withDestinationPath: shared + "/" + rel)
        }
        for f in ["0", "1"] { try link("RoadAnomaly21/images/\(f).png"); try link("RoadAnomaly21/labels_masks/\(f).png") }
        for f in ["0", "1", "2"] { try link("fs_static/images/\(f).jpg"); try link("fs_static/labels_masks/\(f).png") }
        try link("cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png")
        try link("cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png")
        return (models, data, root)
    }

    /// Splits a recorded command into arguments (single-quoted words allowed).
    static func words(_ command: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false, any = false
        for c in command {
            if c == "'" { quoted.toggle(); any = true; continue }
            if c == " " && !quoted { if any { out.append(cur) }; cur = ""; any = false; continue }
            cur.append(c); any = true
        }
        if any { out.append(cur) }
        return out
    }

    func testTablesJSONEqualsSeparateEvalRunsAndReportIsSelfContained() throws {
        let (models, data, root) = try Self.subset()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out").path
        let r = try CLI.run(["reproduce", "--models", models, "--data", data, "--tables", "4", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: ") && r.stderr.contains("erfnet_cityscapes"), "absent models are warned about: \(r.stderr)")
        let json = try CLI.json(String(contentsOfFile: out + "/tables.json", encoding: .utf8))
        let tables = try XCTUnwrap(json["tables"] as? [[String: Any]])
        XCTAssertEqual(tables.map { $0["id"] as? Int }, [4])
        let rows = try XCTUnwrap(tables[0]["rows"] as? [[String: Any]])
        let byLabel = Dictionary(uniqueKeysWithValues: rows.map { ($0["label"] as! String, $0) })
        XCTAssertEqual(byLabel["ERFNet int8"]?["status"] as? String, "missing")
        XCTAssertEqual(byLabel["ERFNet pruned"]?["status"] as? String, "missing")
        let mide = try XCTUnwrap(byLabel["MiDE-Net (distilled from ENet)"])
        let figures = try XCTUnwrap(mide["figures"] as? [[String: Any]])
        XCTAssertEqual(figures.count, 1 + 2 * 2, "mIoU + (AuPRC, FPR95) on two anomaly sets")
        // The compressed row: quantized by reproduce, its plan left in --out, its commands
        // (quantize && eval) give the same figures.
        let int8 = try XCTUnwrap(byLabel["MiDE-Net int8"]?["figures"] as? [[String: Any]])
        XCTAssertEqual(int8.count, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/midenet_distilled.int8.segc"))
        var checked = 0
        var cache: [String: [String: Any]] = [:]
        for f in figures + int8 {
            let command = try XCTUnwrap(f["command"] as? String)
            let steps = command.components(separatedBy: " && ")
            if cache[command] == nil {
                var last: CLI.Result?
                for step in steps {
                    let args = Self.words(step)
                    XCTAssertEqual(args.first, "segc")
                    let e = try CLI.run(Array(args.dropFirst()) + ["--quiet"])
                    XCTAssertEqual(e.status, 0, e.stderr)
                    last = e
                }
                cache[command] = try CLI.json(try XCTUnwrap(last).stdout)
            }
            let metric = try XCTUnwrap(f["metric"] as? String)
            let separate = try XCTUnwrap(cache[command]?[metric] as? Double, "\(command) gave no \(metric)")
            XCTAssertEqual(f["value"] as? Double, separate, "\(metric) of \(command)")
            checked += 1
        }
        XCTAssertEqual(checked, 10)
        // tables.md prints the same figures in percent with two decimals.
        let md = try String(contentsOfFile: out + "/tables.md", encoding: .utf8)
        let miou = try XCTUnwrap(figures.first { $0["metric"] as? String == "miou" }?["value"] as? Double)
        XCTAssertTrue(md.contains("| MiDE-Net (distilled from ENet) | \(formatFixed(miou * 100, decimals: 2)) |"), md)
        try assertSelfContainedReport(out + "/report.html", svgs: 4, minImages: 2 * 2 * 2)
    }

    func testEvalReportAndRunOverlay() throws {
        let (models, data, root) = try Self.subset()
        defer { try? FileManager.default.removeItem(at: root) }
        let report = root.appendingPathComponent("eval.html").path
        let r = try CLI.run(["eval", models + "/midenet_distilled.pth", "--dataset", data + "/fs_static", "--score", "maxlogit",
                             "--report", report, "--json", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let auprc = try XCTUnwrap(try CLI.json(r.stdout)["auprc"] as? Double)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        XCTAssertTrue(html.contains(formatFixed(auprc * 100, decimals: 2)), "the page shows the printed figure")
        try assertSelfContainedReport(report, svgs: 2, minImages: 4)

        let frame = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        let over = root.appendingPathComponent("over.png").path, heat = root.appendingPathComponent("heat.png").path
        let o = try CLI.run(["run", models + "/midenet_distilled.pth", frame, "--overlay", over, "--quiet"])
        XCTAssertEqual(o.status, 0, o.stderr)
        let h = try CLI.run(["run", models + "/midenet_distilled.pth", frame, "--heatmap", heat, "--quiet"])
        XCTAssertEqual(h.status, 0, h.stderr)
        let overlay = try Image.decode(contentsOf: over), heatmap = try Image.decode(contentsOf: heat)
        let input = try Image.decode(contentsOf: frame).convertedToRGB().resized(width: 1024, height: 512, filter: .bilinear)
        XCTAssertEqual(overlay.width, 1024); XCTAssertEqual(overlay.height, 512)
        XCTAssertEqual(overlay, try Visualization.blend(heatmap, over: input, alpha: 0.55), "overlay = heatmap blended over the resized frame")

        // A tensor input has no frame to blend over: clean error, nothing written.
        let npy = try CLI.sharedPath("inputs/city1_512x1024.npy")
        let bad = root.appendingPathComponent("bad.png").path
        let e = try CLI.run(["run", models + "/midenet_distilled.pth", npy, "--overlay", bad])
        assertCleanError(e, "overlay of a tensor")
        XCTAssertTrue(e.stderr.contains(npy), e.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: bad))
    }

    /// Fixtures/report/render_report.sh, only where Chromium is installed (CI has none).
    func testRenderScriptWhenChromiumIsInstalled() throws {
        let which = try CLI.runTool("/bin/sh", ["-c", "command -v chromium || command -v chromium-browser"])
        guard which.status == 0 else { throw XCTSkip("chromium not installed") }
        let (models, data, root) = try Self.subset()
        defer { try? FileManager.default.removeItem(at: root) }
        let report = root.appendingPathComponent("r.html").path, png = root.appendingPathComponent("r.png").path
        let r = try CLI.run(["eval", models + "/midenet_distilled.pth", "--dataset", data + "/RoadAnomaly21", "--report", report, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let script = CLI.packageRoot.appendingPathComponent("Fixtures/report/render_report.sh").path
        let s = try CLI.runTool(script, [report, png, "1000", "1200"])
        XCTAssertEqual(s.status, 0, s.stderr)
        let img = try Image.decode(contentsOf: png)
        XCTAssertEqual(img.width, 1000); XCTAssertEqual(img.height, 1200)
        // Not a blank page: a rendered report has many distinct colours (curves, frames).
        XCTAssertGreaterThan(Set(stride(from: 0, to: img.pixels.count, by: 3 * 97).map { img.pixels[$0] }).count, 50)
        let missing = try CLI.runTool(script, [root.appendingPathComponent("none.html").path, png])
        XCTAssertEqual(missing.status, 1)
    }

    func testBadFoldersAreCleanErrorsWithoutOutput() throws {
        let root = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out").path
        let r = try CLI.run(["reproduce", "--models", root.appendingPathComponent("nope").path, "--data", root.path, "--out", out])
        assertCleanError(r, "missing models folder")
        XCTAssertTrue(r.stderr.contains("nope: no such folder"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let u = try CLI.run(["reproduce", "--models", root.path, "--data", root.path, "--tables", "1,9"])
        XCTAssertEqual(u.status, 2, u.stderr)
        // A corrupt checkpoint under a table's name: the error names it, nothing is written.
        let models = root.appendingPathComponent("m").path
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: models + "/midenet_distilled.pth"))
        let c = try CLI.run(["reproduce", "--models", models, "--data", root.path, "--tables", "4", "--out", out, "--quiet"])
        assertCleanError(c, "corrupt checkpoint")
        XCTAssertTrue(c.stderr.contains("midenet_distilled.pth"), c.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Well-formed (XML parser), no script / external resource, every embedded PNG decodes.
    func assertSelfContainedReport(_ path: String, svgs: Int, minImages: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let html = try String(contentsOfFile: path, encoding: .utf8)
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "not well formed: \(String(describing: parser.parserError))", file: file, line: line)
        for banned in ["<script", "<link", "src=\"http", "href=", "@import", "url("] {
            XCTAssertFalse(html.contains(banned), "report contains \(banned)", file: file, line: line)
        }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, svgs, file: file, line: line)
        let parts = html.components(separatedBy: "data:image/png;base64,").dropFirst()
        XCTAssertGreaterThanOrEqual(parts.count, minImages, file: file, line: line)
        for p in parts {
            let b64 = String(p.prefix { $0 != "\"" })
            let bytes = try XCTUnwrap(Base64.decode(b64), "bad base64", file: file, line: line)
            let img = try bytes.withUnsafeBytes { try Image.decode(bytes: $0, name: "embedded") }
            XCTAssertGreaterThan(img.width, 100, file: file, line: line)
        }
    }
}
