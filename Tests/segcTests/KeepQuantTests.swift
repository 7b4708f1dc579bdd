import Foundation
import SegcCore
import XCTest

/// Issue 14, point 5: `convert --keep-quant` of the FX-quantized ERFNet
/// (`../shared/models/erfnet_fx_int8_state.pth`) gives an int8 plan on the checkpoint's
/// own activation scales and int8 weights, which reproduces PyTorch's own quantized model
/// (`../shared/reference/erfnet_int8_128x256.npy`, FX + fbgemm) far better than the
/// dequantized fp32 import does (measured at 128x256: 96.9 % vs 58.2 % argmax agreement;
/// at 512x1024 on city1 98.9 % vs 79.4 %).
final class KeepQuantTests: XCTestCase {
    func argmax(_ path: String) throws -> [Int] {
        let a = try Npy.read(contentsOf: path)
        let s = a.shape, y = a.floats
        let c = s[1], hw = s[2] * s[3]
        return (0..<hw).map { p in
            var best = y[p], k = 0
            for j in 1..<c where y[j * hw + p] > best { best = y[j * hw + p]; k = j }
            return k
        }
    }

    func agreement(_ a: [Int], _ b: [Int]) -> Double {
        Double(zip(a, b).filter { $0 == $1 }.count) / Double(max(a.count, 1))
    }

    func testFXCheckpointKeepsItsOwnScales() throws {
        let model = try CLI.sharedPath("models/erfnet_fx_int8_state.pth")
        let input = try CLI.sharedPath("inputs/city1_128x256.npy")
        let torchInt8 = try CLI.sharedPath("reference/erfnet_int8_128x256.npy")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let int8 = tmp.appendingPathComponent("fx.int8.segc").path, fp32 = tmp.appendingPathComponent("fx.segc").path

        var r = try CLI.run(["convert", model, "--keep-quant", "--input-size", "128x256", "-o", int8, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertEqual(j["precision"] as? String, "int8")
        let warnings = j["warnings"] as? [String] ?? []
        XCTAssertTrue(warnings.contains { $0.contains("encoder_layers_1_dropout") }, "\(warnings)")
        r = try CLI.run(["inspect", int8, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ops = try CLI.json(r.stdout)["ops"] as? [String: Int] ?? [:]
        XCTAssertEqual(ops["qconv2d"], 71 + 17, "every conv and each block's add_relu: \(ops)")
        XCTAssertEqual(ops["qconv_transpose2d"], 3, "\(ops)")
        XCTAssertNil(ops["conv2d"], "\(ops)")
        XCTAssertEqual(try CLI.run(["convert", model, "--input-size", "128x256", "-o", fp32]).status, 0)

        let torch = try argmax(torchInt8)
        var mine: [String: Double] = [:]
        for (name, plan) in [("int8", int8), ("fp32", fp32)] {
            let out = tmp.appendingPathComponent("\(name).npy").path
            r = try CLI.run(["run", plan, input, "-o", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            mine[name] = agreement(try argmax(out), torch)
        }
        print("[keep-quant] erfnet FX int8 at 128x256: argmax agreement with PyTorch's int8 model \(mine["int8"]!), fp32 import \(mine["fp32"]!)")
        XCTAssertGreaterThanOrEqual(mine["int8"]!, 0.95)
        XCTAssertLessThan(mine["fp32"]!, 0.8, "the reference still tells int8 from fp32")
    }

    func testKeepQuantNeedsActivationQParams() throws {
        let model = CLI.packageRoot.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("m.segc").path
        let r = try CLI.run(["convert", model, "--keep-quant", "--input-size", "64x128", "-o", out])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--keep-quant") && r.stderr.contains("FX-quantized"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
