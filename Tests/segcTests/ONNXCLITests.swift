import Foundation
import XCTest

/// Issue 3 through the CLI: every ONNX file in ../shared/onnx (not bench/), converted
/// at 128x256 and run on city1_128x256.npy, reproduces the PyTorch logits within
/// 1e-4 × max(1, max|ref|); the ENet plans hold max_unpool2d and no scatter.
final class ONNXCLITests: XCTestCase {
    func readNpyFloats(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLen = Int(d[8]) | Int(d[9]) << 8
        return d.subdata(in: (10 + headerLen)..<d.count).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func testEverySharedONNXFileReproducesPyTorch() throws {
        guard let shared = CLI.shared else { throw XCTSkip("../shared not found") }
        let dir = shared.appendingPathComponent("onnx")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".onnx") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 9)
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for f in files {
            let ref = f.hasPrefix("enet_void") ? "enet_void" : f.hasPrefix("enet") ? "enet" : f.hasPrefix("erfnet") ? "erfnet" : "midenet"
            let plan = tmp.appendingPathComponent("\(f).segc").path, out = tmp.appendingPathComponent("\(f).npy").path
            var r = try CLI.run(["convert", dir.appendingPathComponent(f).path, "--input-size", "128x256", "-o", plan, "--quiet"])
            XCTAssertEqual(r.status, 0, "\(f): \(r.stderr)")
            r = try CLI.run(["run", plan, shared.appendingPathComponent("inputs/city1_128x256.npy").path, "-o", out])
            XCTAssertEqual(r.status, 0, "\(f): \(r.stderr)")
            let mine = try readNpyFloats(out)
            let theirs = try readNpyFloats(shared.appendingPathComponent("reference/\(ref)_128x256.npy").path)
            XCTAssertEqual(mine.count, theirs.count, f)
            var d: Float = 0, m: Float = 0
            for i in 0..<min(mine.count, theirs.count) { d = max(d, abs(mine[i] - theirs[i])); m = max(m, abs(theirs[i])) }
            print("[onnx] \(f): max|diff| vs PyTorch = \(d) (tolerance \(1e-4 * max(1, m)))")
            XCTAssertLessThanOrEqual(d, 1e-4 * max(1, m), f)
            if ref.hasPrefix("enet") {
                let j = try CLI.json(try CLI.run(["inspect", plan, "--json"]).stdout)
                let ops = j["ops"] as? [String: Int] ?? [:]
                XCTAssertEqual(ops["max_unpool2d"], 2, f)
                XCTAssertFalse(ops.keys.contains { $0.contains("scatter") }, f)
            }
        }
    }
}
