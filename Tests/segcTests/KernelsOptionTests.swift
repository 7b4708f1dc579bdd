import Foundation
import XCTest

/// `--kernels` on run, bench and eval (issue 13). `SEGC_CPU_CAP` makes this machine
/// look like one without AVX-512 (or AVX2), so the refusal is tested everywhere.
final class KernelsOptionTests: XCTestCase {
    func demoPlan() throws -> (URL, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("segc-kernels-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let plan = dir.appendingPathComponent("m.segc").path
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        let r = try CLI.run(["convert", model, "-o", plan, "--input-size", "64x128", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (dir, plan)
    }

    func testMissingLevelIsRefusedAndWritesNothing() throws {
        let (dir, plan) = try demoPlan()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("logits.npy").path
        let image = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        for (cap, level) in [("avx2", "avx512"), ("scalar", "avx2")] {
            let r = try CLI.run(["run", plan, image, "--kernels", level, "-o", out], environment: ["SEGC_CPU_CAP": cap])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertFalse(r.signalled)
            XCTAssertEqual(r.stderr, "error: \(plan): this CPU has no \(level)\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            let b = try CLI.run(["bench", plan, "--kernels", level, "--runs", "1", "--warmup", "0"], environment: ["SEGC_CPU_CAP": cap])
            XCTAssertEqual(b.status, 1, b.stderr)
            XCTAssertTrue(b.stderr.contains("this CPU has no \(level)"), b.stderr)
        }
        let bad = try CLI.run(["run", plan, image, "--kernels", "sse9"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("unknown --kernels 'sse9'"), bad.stderr)
    }

    func testEveryAvailableLevelRunsAndReportsItself() throws {
        let (dir, plan) = try demoPlan()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        var logits: [Data] = []
        for level in ["scalar", "avx2", "avx512"] {
            let b = try CLI.run(["bench", plan, "--kernels", level, "--runs", "1", "--warmup", "0", "--json"])
            if b.status == 1 && b.stderr.contains("this CPU has no \(level)") { continue }
            XCTAssertEqual(b.status, 0, b.stderr)
            XCTAssertTrue(b.stdout.contains("\"kernels\":\"\(level)\"") || b.stdout.contains("\"kernels\": \"\(level)\""), b.stdout)
            let out = dir.appendingPathComponent("\(level).npy").path
            let r = try CLI.run(["run", plan, image, "--kernels", level, "-o", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            logits.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        XCTAssertGreaterThanOrEqual(logits.count, 1)
    }
}
