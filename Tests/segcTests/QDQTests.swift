import CZip
import Foundation
import SegcCore
import XCTest

/// Issues 3 and 14, QDQ acceptance: the ERFNet that ONNX Runtime's `quantize_static` wrote
/// (`../shared/onnx/bench/erfnet_512x1024_int8_qdq.onnx`: QDQ, U8S8, per-channel
/// weights) converts to real int8 (precision `int8`), or with `--simulate-quant` to
/// simulated int8 (`quantize_dequantize`, precision `mixed`), and runs; either way its
/// argmax on city1 agrees with ONNX Runtime's on ≥ 99 % of pixels. The expectation (`Fixtures/expected/qdq_argmax_city1.zip`, from
/// `Fixtures/onnx/qdq_reference.py expected`) is ORT with graph optimisations off, i.e.
/// the QDQ graph as ONNX defines it: ORT's fused int8 path on a CPU without VNNI
/// saturates int16 pair sums (VPMADDUBSW) and differs from its own exact result
/// (see the script's docstring).
final class QDQTests: XCTestCase {
    func expectedArgmax() throws -> [UInt8] {
        let zipPath = CLI.packageRoot.appendingPathComponent("Fixtures/expected/qdq_argmax_city1.zip").path
        var err: Int32 = 0
        guard let z = zip_open(zipPath, ZIP_RDONLY, &err) else { throw XCTSkip("cannot open \(zipPath)") }
        defer { zip_close(z) }
        let entry = "erfnet_int8_qdq.npy"
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat(z, entry, 0, &st) == 0, st.size < 4 << 20, let f = zip_fopen(z, entry, 0) else {
            XCTFail("no \(entry) in the fixture"); return []
        }
        defer { zip_fclose(f) }
        var bytes = [UInt8](repeating: 0, count: Int(st.size))
        let n = bytes.withUnsafeMutableBytes { zip_fread(f, $0.baseAddress, st.size) }
        XCTAssertEqual(Int(n), bytes.count)
        let arr = try bytes.withUnsafeBytes { try Npy.decode($0, name: entry) }
        XCTAssertEqual(arr.shape, [512, 1024])
        return (arr.int64s ?? []).map { UInt8(truncatingIfNeeded: $0) }
    }

    /// `convert` lowers the QDQ model to real int8 on its own scales (`QDQToInt8`): every
    /// conv an int8 conv, each residual Add an int8 depthwise add (17), the logits' Q/DQ
    /// kept (the model's output is rounded), and ≥ 99 % argmax agreement with ORT.
    func testQDQERFNetRealInt8MatchesONNXRuntimeArgmax() throws {
        let ops = try convertAndCompare([], precision: "int8")
        XCTAssertEqual(ops["qconv2d"], 71 + 17, "\(ops)")
        XCTAssertEqual(ops["qconv_transpose2d"], 3, "\(ops)")
        XCTAssertEqual(ops["quantize_dequantize"], 1, "\(ops)")
        XCTAssertNil(ops["conv2d"], "\(ops)")
        XCTAssertNil(ops["add"], "\(ops)")
    }

    /// `--simulate-quant` keeps the earlier plan: one float32 quantize_dequantize per
    /// activation QuantizeLinear, float convs.
    func testQDQERFNetSimulatedMatchesONNXRuntimeArgmax() throws {
        let ops = try convertAndCompare(["--simulate-quant"], precision: "mixed")
        XCTAssertEqual(ops["quantize_dequantize"], 101, "\(ops)")
        XCTAssertEqual(ops["conv2d"], 71, "\(ops)")
    }

    /// Converts with `flags`, checks precision and warnings, runs city1 and asserts ≥ 99 %
    /// argmax agreement with the ORT fixture; returns the plan's op counts.
    func convertAndCompare(_ flags: [String], precision: String) throws -> [String: Int] {
        let model = try CLI.sharedPath("onnx/bench/erfnet_512x1024_int8_qdq.onnx")
        let input = try CLI.sharedPath("inputs/city1_512x1024.npy")
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("no \(model)") }
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("erfnet_qdq.segc").path, out = tmp.appendingPathComponent("logits.npy").path

        var r = try CLI.run(["convert", model, "-o", plan, "--json"] + flags)
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try CLI.json(r.stdout)
        XCTAssertEqual(j["precision"] as? String, precision)
        let warnings = j["warnings"] as? [String] ?? []
        XCTAssertEqual(warnings.contains { $0.contains("simulated") }, flags.contains("--simulate-quant"), "\(warnings)")
        r = try CLI.run(["inspect", plan, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ops = try CLI.json(r.stdout)["ops"] as? [String: Int] ?? [:]

        r = try CLI.run(["run", plan, input, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let logits = try Npy.read(contentsOf: out)
        XCTAssertEqual(logits.shape, [1, 20, 512, 1024])
        let y = logits.floats
        let hw = 512 * 1024
        guard y.count == 20 * hw else { XCTFail("\(y.count) logits"); return ops }
        var mine = [UInt8](repeating: 0, count: hw)
        for p in 0..<hw {
            var best = y[p], k = 0
            for c in 1..<20 where y[c * hw + p] > best { best = y[c * hw + p]; k = c }
            mine[p] = UInt8(k)
        }
        let theirs = try expectedArgmax()
        XCTAssertEqual(theirs.count, hw)
        let agree = zip(mine, theirs).filter { $0 == $1 }.count
        let fraction = Double(agree) / Double(hw)
        print("[qdq] erfnet QDQ \(precision): argmax agreement with ONNX Runtime \(String(format: "%.4f", fraction * 100)) %")
        XCTAssertGreaterThanOrEqual(fraction, 0.99)
        return ops
    }
}
