import Foundation
import XCTest

/// `segc stream` (issue 16): folder and stdin sources, order kept, outputs whole,
/// --drop-late counted, --json latencies, clear errors.
final class StreamTests: XCTestCase {
    var dir: URL!
    var plan: String!
    let frame = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg")

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("segc-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        plan = dir.appendingPathComponent("m.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        let r = try CLI.run(["convert", model, "-o", plan, "--input-size", "64x128", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testFolderSourceWritesEveryFrameInOrder() throws {
        let frames = dir.appendingPathComponent("frames")
        try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
        for i in 0..<5 { try FileManager.default.copyItem(at: frame, to: frames.appendingPathComponent("f\(i).jpg")) }
        let heat = dir.appendingPathComponent("heat").path
        let r = try CLI.run(["stream", plan, frames.path, "--heatmap", heat, "--json", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["frames"] as? Int, 5)
        XCTAssertEqual(json["dropped"] as? Int, 0)
        XCTAssertGreaterThan(json["fps"] as? Double ?? 0, 0)
        let latency = json["latency"] as! [String: Any]
        for stage in ["decode", "network", "write", "end_to_end"] {
            let s = latency[stage] as! [String: Double]
            XCTAssertLessThanOrEqual(s["p50_ms"]!, s["p95_ms"]!)
            XCTAssertLessThanOrEqual(s["p95_ms"]!, s["p99_ms"]!)
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: heat).sorted()
        XCTAssertEqual(written, (0..<5).map { "f\($0).png" })
        // Same bits as `run` on the same frame.
        let one = dir.appendingPathComponent("one.png").path
        XCTAssertEqual(try CLI.run(["run", plan, frame.path, "--heatmap", one]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: one)), try Data(contentsOf: URL(fileURLWithPath: "\(heat)/f3.png")))
    }

    func testStdinSplitsConcatenatedJPEGAndPNG() throws {
        // A PNG of the frame, made by segc itself (a segmentation PNG is a valid RGB-convertible image).
        let png = dir.appendingPathComponent("seg.png").path
        XCTAssertEqual(try CLI.run(["run", plan, frame.path, "--segmentation", png]).status, 0)
        var stream = Data()
        for _ in 0..<3 { stream.append(try Data(contentsOf: frame)); stream.append(try Data(contentsOf: URL(fileURLWithPath: png))) }
        let input = dir.appendingPathComponent("stream.bin")
        try stream.write(to: input)
        let out = dir.appendingPathComponent("out").path
        let r = try CLI.runTool("/bin/sh", ["-c", "\"\(CLI.binary.path)\" stream \"\(plan!)\" - -o \"\(out)\" --score maxlogit --json < \"\(input.path)\""])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        XCTAssertEqual(names, (0..<6).map { String(format: "frame_%06d.npy", $0) })

        // Garbage and a truncated image are errors, not crashes.
        try Data("not an image at all".utf8).write(to: input)
        let bad = try CLI.runTool("/bin/sh", ["-c", "\"\(CLI.binary.path)\" stream \"\(plan!)\" - --no-write < \"\(input.path)\""])
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("not the start of a PNG or JPEG image"), bad.stderr)
        try Data(try Data(contentsOf: frame).prefix(5000)).write(to: input)
        let cut = try CLI.runTool("/bin/sh", ["-c", "\"\(CLI.binary.path)\" stream \"\(plan!)\" - --no-write < \"\(input.path)\""])
        XCTAssertEqual(cut.status, 1, cut.stderr)
        XCTAssertTrue(cut.stderr.contains("stdin ended inside an image"), cut.stderr)
    }

    func testErrors() throws {
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let r = try CLI.run(["stream", plan, empty.path, "--no-write"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: \(empty.path): no PNG, JPEG or WebP images in the folder\n")
        let both = try CLI.run(["stream", plan, empty.path, "--no-write", "--heatmap", "x"])
        XCTAssertEqual(both.status, 2)
    }
}

/// Mutated stdin streams (bit flips, cuts, duplicated and dropped chunks of real JPEG
/// and PNG bytes) end in exit 0 or 1 with `error:`, never a signal or a hang.
final class StreamMutationTests: XCTestCase {
    func testMutatedStdinNeverCrashes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segc-streamfuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("m.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        XCTAssertEqual(try CLI.run(["convert", model, "-o", plan, "--input-size", "32x64", "--quiet"]).status, 0)
        let jpeg = try Data(contentsOf: CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg"))
        let pngPath = dir.appendingPathComponent("a.png").path
        XCTAssertEqual(try CLI.run(["run", plan, CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path,
                                    "--segmentation", pngPath]).status, 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: pngPath))
        var seed: UInt64 = 0x5EC
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        let input = dir.appendingPathComponent("in.bin")
        for trial in 0..<40 {
            var bytes = [UInt8](trial % 2 == 0 ? jpeg : png) + [UInt8](trial % 3 == 0 ? png : jpeg)
            switch trial % 4 {
            case 0: for _ in 0..<(1 + next() % 20) { bytes[next() % bytes.count] ^= UInt8(1 << (next() % 8)) }
            case 1: bytes = Array(bytes.prefix(next() % bytes.count))
            case 2: let a = next() % bytes.count, b = min(bytes.count, a + next() % 4096); bytes.removeSubrange(a..<b)
            default: let a = next() % bytes.count; bytes.insert(contentsOf: bytes[a..<min(bytes.count, a + 512)], at: next() % bytes.count)
            }
            try Data(bytes).write(to: input)
            let r = try CLI.runTool("/bin/sh", ["-c", "timeout 60 \"\(CLI.binary.path)\" stream \"\(plan)\" - --no-write --quiet < \"\(input.path)\""])
            XCTAssertFalse(r.signalled, "trial \(trial)")
            XCTAssertTrue(r.status == 0 || (r.status == 1 && r.stderr.hasPrefix("error: ")), "trial \(trial): \(r.status) \(r.stderr)")
        }
    }
}
