import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import SegcCore
import SegcEval
#if canImport(Glibc)
import Glibc
#endif

/// The pieces of the report: base64, curves, overlays, the multi-network driver and the page.
final class ReportPiecesTests: XCTestCase {
    func testBase64MatchesRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64.decode(encoded), Array(plain.utf8))
        }
        var bytes: [UInt8] = []
        for i in 0..<1000 { bytes.append(UInt8(truncatingIfNeeded: i &* 37 &+ 11)) }
        XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
        XCTAssertNil(Base64.decode("Zm9*"))
        XCTAssertNil(Base64.decode("Zm9"))
    }

    func testFormatFixedRoundsLikePrintf() {
        XCTAssertEqual(formatFixed(12.345678, decimals: 2), "12.35")
        XCTAssertEqual(formatFixed(0.004, decimals: 2), "0.00")
        XCTAssertEqual(formatFixed(99.999, decimals: 2), "100.00")
        XCTAssertEqual(formatFixed(7, decimals: 2), "7.00")
        XCTAssertEqual(formatFixed(0.05, decimals: 1), "0.1")
    }

    func testCurveEndsAndFPR95MatchTheMetrics() throws {
        var acc = AnomalyAccumulator()
        var scores: [Float] = [], labels: [UInt8] = []
        var s: UInt32 = 12345
        for i in 0..<20000 {
            s = s &* 1664525 &+ 1013904223
            let positive = i % 7 == 0
            scores.append(Float(s >> 8) / Float(1 << 24) + (positive ? 0.3 : 0))
            labels.append(positive ? 1 : 0)
        }
        try acc.add(scores: scores, labels: labels)
        let m = try acc.metrics()
        let c = try acc.metricsAndCurve(curvePoints: 200)
        XCTAssertEqual(c.auprc, m.auprc)
        XCTAssertEqual(c.fpr95, m.fpr95)
        let curve = try XCTUnwrap(c.curve)
        XCTAssertEqual(curve.roc.first?.fpr, 0); XCTAssertEqual(curve.roc.first?.tpr, 0)
        XCTAssertEqual(curve.roc.last?.fpr, 1); XCTAssertEqual(curve.roc.last?.tpr, 1)
        XCTAssertEqual(curve.pr.last?.recall, 1)
        XCTAssertLessThan(curve.pr.count, 1000, "thinned")
        XCTAssertGreaterThan(curve.pr.count, 20)
        XCTAssertEqual(curve.positiveRate, 1 / 7, accuracy: 1e-3)
        // The ROC polyline passes within the thinning step of the FPR95 point.
        let below = try XCTUnwrap(curve.roc.last { $0.tpr <= 0.95 }), above = try XCTUnwrap(curve.roc.first { $0.tpr >= 0.95 })
        XCTAssertLessThanOrEqual(below.fpr, m.fpr95 + 1e-12)
        XCTAssertGreaterThanOrEqual(above.fpr, m.fpr95 - 1e-12)
    }

    func testLabelSplitPoolsExactlyLikeLabels() throws {
        var labels: [UInt8] = [], a: [Float] = [], b: [Float] = []
        for i in 0..<5000 {
            labels.append([0, 1, 255, 0, 2][i % 5])
            a.append(Float((i * 7919) % 1000) / 1000); b.append(Float((i * 104729) % 977) / 977)
        }
        let split = LabelSplit(labels: labels)
        var viaLabels = AnomalyAccumulator(), viaSplit = AnomalyAccumulator()
        for s in [a, b] { try viaLabels.add(scores: s, labels: labels); try viaSplit.add(scores: s, split: split) }
        XCTAssertEqual(viaSplit.positives, viaLabels.positives)
        XCTAssertEqual(viaSplit.ignored, viaLabels.ignored)
        XCTAssertEqual(try viaSplit.metrics().auprc, try viaLabels.metrics().auprc)
        XCTAssertEqual(try viaSplit.metrics().fpr95, try viaLabels.metrics().fpr95)
        var bad = a
        bad[2] = .nan      // ignored pixel: allowed
        bad[3000] = .infinity; bad[1001] = .nan
        var x = AnomalyAccumulator(), y = AnomalyAccumulator()
        var e1 = "", e2 = ""
        do { try x.add(scores: bad, labels: labels) } catch { e1 = "\(error)" }
        do { try y.add(scores: bad, split: split) } catch { e2 = "\(error)" }
        XCTAssertTrue(e1.contains("pixel 1001"), e1)
        XCTAssertEqual(e1, e2)
        XCTAssertThrowsError(try y.add(scores: [1, 2], split: split))
    }

    func testOverlayIsTheBlendAndOutlineMarksTheBoundary() throws {
        let w = 8, h = 6
        let frame = try Image(width: w, height: h, channels: 3, pixels: (0..<(w * h * 3)).map { UInt8($0 % 251) })
        let scores = (0..<(w * h)).map { Float($0) }
        let heat = try Visualization.heatmap(scores: scores, width: w, height: h)
        let over = try Visualization.overlay(scores: scores, on: frame, alpha: 0.25)
        for i in 0..<over.pixels.count {
            XCTAssertEqual(over.pixels[i], UInt8((0.75 * Double(frame.pixels[i]) + 0.25 * Double(heat.pixels[i])).rounded()))
        }
        var values = [UInt8](repeating: 0, count: w * h)
        for y in 1..<5 { for x in 2..<7 { values[y * w + x] = 1 } }
        values[0] = 255
        let out = try Visualization.outline(mask: LabelMask(width: w, height: h, values: values), on: frame, thickness: 1)
        func px(_ x: Int, _ y: Int) -> [UInt8] { Array(out.pixels[(3 * (y * w + x))..<(3 * (y * w + x) + 3)]) }
        XCTAssertEqual(px(2, 1), [0, 255, 255], "corner of the region is boundary")
        XCTAssertEqual(px(4, 2), Array(frame.pixels[(3 * (2 * w + 4))..<(3 * (2 * w + 4) + 3)]), "interior untouched")
        XCTAssertEqual(px(0, 0), frame.pixels[0..<3].map { $0 / 3 }, "void darkened")
        XCTAssertThrowsError(try Visualization.blend(heat, over: try Image(width: 2, height: 2, channels: 3, pixels: Array(repeating: 0, count: 12)), alpha: 0.5))
    }

    func testFrameFromCHWInvertsTheNetworkInput() throws {
        let img = try Image(width: 5, height: 3, channels: 3, pixels: (0..<45).map { UInt8($0 * 5) })
        XCTAssertEqual(try Visualization.frame(fromCHW: img.chwFloats(), width: 5, height: 3), img)
    }

    /// Two networks and three scores in one pass give exactly the figures of separate
    /// single-score evaluations (the multi-job driver must not mix jobs or scores up).
    func testMultiJobDriverEqualsSingleScoreRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segc-multijob-\(UUID().uuidString)/RoadAnomaly21").path
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/labels_masks", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: dir).deletingLastPathComponent().path) }
        let (w, h) = (32, 16)
        for f in 0..<3 {
            let rgb = (0..<(w * h * 3)).map { UInt8(($0 * (f + 3)) % 256) }
            try AtomicFile.write(dir + "/images/\(f).png", bytes: try PNGWriter.encode(Image(width: w, height: h, channels: 3, pixels: rgb)))
            var mask = [UInt8](repeating: 0, count: w * h)
            for i in 0..<(w * h) where (i + f) % 9 == 0 { mask[i] = 1 }
            for i in 0..<(w * h) where i % 13 == 0 { mask[i] = 255 }
            if f == 2 { mask = mask.map { $0 == 1 ? 0 : $0 } }   // skipped: no anomaly pixel
            try AtomicFile.write(dir + "/labels_masks/\(f).png", bytes: try PNGWriter.encode(Image(width: w, height: h, channels: 1, pixels: mask)))
        }
        let ds = try Dataset(directory: dir)
        func net(_ seed: Float) -> ([Float]) throws(SegcError) -> [Float] {
            { (x: [Float]) throws(SegcError) -> [Float] in
                var out = [Float](repeating: 0, count: 20 * w * h)
                for c in 0..<20 { for p in 0..<(w * h) { out[c * w * h + p] = sinf(seed * Float(c + 1) * x[p % x.count] + Float(p % 7)) * 3 } }
                return out
            }
        }
        let scores: [AnomalyScore] = [.msp(temperature: 1), .maxLogit, .msp(temperature: 0.5)]
        var observed = 0
        let jobs = [EvaluationJob(scores: scores, curvePoints: 50, observer: { _ in observed += 1 }, network: net(1.3)),
                    EvaluationJob(scores: [.void, .maxEntropy], network: net(0.7))]
        let d = try evaluate(dataset: ds, width: w, height: h, jobs: jobs)
        XCTAssertEqual(observed, 2)
        for (j, (seed, list)) in [(Float(1.3), scores), (Float(0.7), [AnomalyScore.void, .maxEntropy])].enumerated() {
            XCTAssertEqual(d.jobs[j].framesUsed, 2); XCTAssertEqual(d.jobs[j].framesSkipped, 1)
            for (k, s) in list.enumerated() {
                let single = try evaluate(dataset: ds, width: w, height: h, score: s, network: net(seed))
                XCTAssertEqual(d.jobs[j].scores[k].auprc, single.auprc, "job \(j) \(s)")
                XCTAssertEqual(d.jobs[j].scores[k].fpr95, single.fpr95, "job \(j) \(s)")
                XCTAssertEqual(d.jobs[j].anomalyPixels, single.anomalyPixels)
            }
        }
        XCTAssertNotNil(d.jobs[0].scores[0].curve)
        XCTAssertNil(d.jobs[1].scores[0].curve)

        // A network error mid-dataset is the driver's error, and no observer runs after it.
        var calls = 0, seen = 0
        let failing = EvaluationJob(scores: [.maxLogit], observer: { _ in usleep(20_000); seen += 1 }) {
            (x: [Float]) throws(SegcError) -> [Float] in
            calls += 1
            if calls == 2 { throw SegcError(.io, "boom") }
            return try net(1.1)(x)
        }
        XCTAssertThrowsError(try evaluate(dataset: ds, width: w, height: h, jobs: [failing])) { e in
            XCTAssertTrue("\(e)".contains("boom"), "\(e)")
        }
        let after = seen
        usleep(100_000)
        XCTAssertEqual(seen, after, "observer ran after the error was returned")
        XCTAssertEqual(after, 1)
    }

    func testPageIsSelfContainedXHTML() throws {
        let png = try PNGWriter.encode(Image(width: 4, height: 2, channels: 3, pixels: Array(repeating: 200, count: 24)))
        let frame = GalleryFrame(stem: "a<b", image: "x", auprc: 0.5, groundTruthPNG: png, overlays: [("MSP", png)])
        let curve = ScoreCurve(pr: [(0, 1), (1, 0.1)], roc: [(0, 0), (1, 1)], fpr95: 0.9, auprc: 0.4, positiveRate: 0.1)
        let page = ReportPage(title: "t & u", facts: [("date", "now")],
                              tables: [ReportTable(title: "T", groups: [("D", 2)], columns: ["AuPRC", "FPR95"], rows: [("m", ["1.00", "—"])])],
                              datasets: [ReportDataset(name: "D", curves: [("m", curve)], galleryLabel: "m", worst: frame, best: frame)])
        let html = page.html()
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("https://"))
        XCTAssertTrue(html.contains("a&lt;b"))
        XCTAssertTrue(html.contains("t &amp; u"))
        XCTAssertEqual(html.components(separatedBy: "data:image/png;base64,").count - 1, 4)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 2)
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "not well formed: \(String(describing: parser.parserError))")
    }
}
