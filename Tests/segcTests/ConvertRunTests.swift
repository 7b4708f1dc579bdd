import Foundation
import XCTest

/// Issue 2, acceptance 1 through the CLI: `segc convert --input-size 128x256`
/// then `segc run` on the manifest input reproduces PyTorch's logits within
/// 1e-4 × max(1, max|ref|), for every manifest entry.
final class ConvertRunTests: XCTestCase {
    func readNpyFloats(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLen = Int(d[8]) | Int(d[9]) << 8
        let start = 10 + headerLen
        return d.subdata(in: start..<d.count).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func testConvertAndRunEveryManifestModel() throws {
        guard let shared = CLI.shared else { throw XCTSkip("../shared not found") }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: shared.appendingPathComponent("reference/manifest.json"))) as! [[String: Any]]
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for e in manifest {
            let name = e["name"] as! String
            let plan = tmp.appendingPathComponent("\(name).segc").path
            let out = tmp.appendingPathComponent("\(name).npy").path
            var r = try CLI.run(["convert", shared.appendingPathComponent(e["checkpoint"] as! String).path, "--input-size", "128x256", "-o", plan, "--json"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            r = try CLI.run(["run", plan, shared.appendingPathComponent(e["input"] as! String).path, "-o", out, "--threads", "2"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            let mine = try readNpyFloats(out)
            let ref = try readNpyFloats(shared.appendingPathComponent(e["output"] as! String).path)
            XCTAssertEqual(mine.count, ref.count, name)
            var d: Float = 0
            for i in 0..<min(mine.count, ref.count) { d = max(d, abs(mine[i] - ref[i])) }
            let tol = Float(1e-4 * max(1, (e["max_abs"] as! NSNumber).doubleValue))
            print("[cli] \(name): convert+run max|diff| vs PyTorch = \(d) (tolerance \(tol))")
            XCTAssertLessThanOrEqual(d, tol, name)
        }
    }

    func testConvertIsDeterministic() throws {
        let model = try CLI.sharedPath("models/midenet_distilled.pth")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let a = tmp.appendingPathComponent("a.segc").path, b = tmp.appendingPathComponent("b.segc").path
        XCTAssertEqual(try CLI.run(["convert", model, "-o", a, "--input-size", "64x128"]).status, 0)
        XCTAssertEqual(try CLI.run(["convert", model, "-o", b, "--input-size", "64x128"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a)), try Data(contentsOf: URL(fileURLWithPath: b)))
    }

    func testDefaultOutputNameIsStemInCurrentFolder() throws {
        let model = try CLI.sharedPath("models/midenet_distilled.pth")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let r = try CLI.run(["convert", model, "--input-size", "64x128"], cwd: tmp)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("midenet_distilled.segc").path))
    }

    func testUsageErrorsExitTwo() throws {
        XCTAssertEqual(try CLI.run(["convert"]).status, 2)
        XCTAssertEqual(try CLI.run(["frobnicate"]).status, 2)
        XCTAssertEqual(try CLI.run(["convert", "x.pth", "--input-size", "12by7"]).status, 2)
        let v = try CLI.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.contains("plan format 1.0"), v.stdout)
    }

    func testWrongArchitectureIsExplained() throws {
        let r = try CLI.run(["convert", try CLI.sharedPath("models/midenet_distilled.pth"), "--arch", "erfnet", "-o", "/tmp/segc-never.segc"])
        assertCleanError(r, "wrong --arch")
        XCTAssertTrue(r.stderr.contains("key '"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/segc-never.segc"))
    }
}

/// Issue 2: steady-state inference allocates nothing. `segc bench` counts heap
/// allocations with an interposed malloc; the load phase must show allocations
/// (proof that the counter is live) and the timed runs none.
final class BenchAllocationTests: XCTestCase {
    func testSteadyStateRunsAllocateNothing() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for model in ["midenet_distilled.pth", "enet_cityscapes.pth"] {
            let plan = tmp.appendingPathComponent("\(model).segc").path
            XCTAssertEqual(try CLI.run(["convert", try CLI.sharedPath("models/\(model)"), "-o", plan, "--input-size", "128x256"]).status, 0)
            let r = try CLI.run(["bench", plan, "--runs", "5", "--warmup", "2", "--threads", "2", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let j = try CLI.json(r.stdout)
            if j["allocation_counting"] as? Bool == false { throw XCTSkip("allocation counting is compiled out (sanitizer build)") }
            print("[bench] \(model) 128x256: load_allocations \(j["load_allocations"] ?? "-"), allocations_per_run \(j["allocations_per_run"] ?? "-"), median \(j["median_ms"] ?? "-") ms")
            XCTAssertGreaterThan(j["load_allocations"] as? Int ?? 0, 0, "allocation counter not live")
            XCTAssertEqual((j["allocations_per_run"] as? NSNumber)?.doubleValue, 0)
        }
    }
}

/// Issue 8: the embedding example builds with the suite and writes a heatmap PNG.
final class HeatmapExampleTests: XCTestCase {
    func testExampleWritesHeatmap() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("demo.segc").path
        let demo = CLI.packageRoot.appendingPathComponent("Fixtures/demo")
        XCTAssertEqual(try CLI.run(["convert", demo.appendingPathComponent("midenet_distilled.pth").path, "-o", plan,
                                    "--input-size", "128x256"]).status, 0)
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("HeatmapExample")
        let out = tmp.appendingPathComponent("heat.png").path
        p.arguments = [plan, demo.appendingPathComponent("fs_static_0.jpg").path, out]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
    }
}

/// Help text reaches stdout (also through a pipe) for the root and every command.
final class HelpTests: XCTestCase {
    func testHelpIsPrinted() throws {
        for args in [["--help"], ["help"], ["convert", "--help"], ["run", "--help"], ["eval", "--help"], ["help", "bench"]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stdout.contains("USAGE:"), "\(args): \(r.stdout.prefix(200))")
        }
    }
}

/// `segc bench --profile`: one time per plan op, by kind and by layer; the op times sum to
/// about one run (the profiled runs are separate from the timed ones).
final class BenchProfileTests: XCTestCase {
    func testProfileCoversEveryOp() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("enet.segc").path
        XCTAssertEqual(try CLI.run(["convert", try CLI.sharedPath("models/enet_cityscapes.pth"), "-o", plan, "--input-size", "128x256"]).status, 0)
        let inspect = try CLI.json(try CLI.run(["inspect", plan, "--json"]).stdout)
        let r = try CLI.run(["bench", plan, "--runs", "4", "--warmup", "1", "--threads", "2", "--profile", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        let profile = try XCTUnwrap(j["profile"] as? [String: Any])
        let ops = try XCTUnwrap(profile["ops"] as? [[String: Any]])
        let histogram = try XCTUnwrap(inspect["ops"] as? [String: Int])
        XCTAssertEqual(ops.count, histogram.values.reduce(0, +), "one entry per plan op")
        let total = try XCTUnwrap(profile["total_ms"] as? Double)
        let median = try XCTUnwrap(j["median_ms"] as? Double)
        XCTAssertGreaterThan(total, 0.3 * median)
        XCTAssertLessThan(total, 3 * median)
        let kinds = try XCTUnwrap(profile["by_kind"] as? [[String: Any]])
        XCTAssertEqual(kinds.first?["kind"] as? String, "conv2d", "convs dominate ENet")
        let human = try CLI.run(["bench", plan, "--runs", "2", "--warmup", "0", "--profile"])
        XCTAssertTrue(human.stdout.contains("slowest layers:"), human.stdout)
    }
}

/// Huge pages in a fresh process: `segc bench` reports the process's AnonHugePages; with THP
/// in `madvise` mode (Debian's default) a session gets them, and `SEGC_HUGE_PAGES=0` keeps
/// 4 KiB pages. Same medians' order of magnitude, same output either way (HugePagesTests).
final class BenchHugePagesTests: XCTestCase {
    func testHugePagesOnByDefaultOffWithTheEnvironment() throws {
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        guard mode.contains("[madvise]") else { throw XCTSkip("THP mode is not madvise here: \(mode)") }
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("enet.segc").path
        XCTAssertEqual(try CLI.run(["convert", try CLI.sharedPath("models/enet_cityscapes.pth"), "-o", plan, "--input-size", "256x512"]).status, 0)
        var huge: [String: Int] = [:]
        for setting in ["default", "0"] {
            let r = try CLI.run(["bench", plan, "--runs", "1", "--warmup", "0", "--threads", "2", "--json"],
                                environment: setting == "0" ? ["SEGC_HUGE_PAGES": "0"] : [:])
            XCTAssertEqual(r.status, 0, r.stderr)
            huge[setting] = try XCTUnwrap(try CLI.json(r.stdout)["anon_huge_pages_bytes"] as? Int)
        }
        print("[hugepages] enet 256x512 bench: AnonHugePages default \(huge["default"]!) bytes, SEGC_HUGE_PAGES=0 \(huge["0"]!)")
        XCTAssertGreaterThan(huge["default"]!, 0)
        XCTAssertEqual(huge["0"], 0)
    }
}
