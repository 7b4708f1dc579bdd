import Foundation
import XCTest
import SegcCore

/// Converts `model` with the CLI, runs it on `input` and returns (output, reference) for
/// `expected`; asserts every step exits 0.
private func convertAndRun(_ model: String, input: String, tmp: URL, file: StaticString = #filePath,
                           line: UInt = #line) throws -> Npy.Array? {
    let plan = tmp.appendingPathComponent(UUID().uuidString + ".segc").path
    let out = tmp.appendingPathComponent(UUID().uuidString + ".npy").path
    let c = try CLI.run(["convert", model, "-o", plan, "--quiet"])
    XCTAssertEqual(c.status, 0, "convert \(model): \(c.stderr)", file: file, line: line)
    if c.status != 0 { return nil }
    let r = try CLI.run(["run", plan, input, "-o", out])
    XCTAssertEqual(r.status, 0, "run \(model): \(r.stderr)", file: file, line: line)
    if r.status != 0 { return nil }
    return try Npy.read(contentsOf: out)
}

/// Max |got − ref| and the contract's bound 1e-4 · max(1, max|ref|) (product.md §1).
func compare(_ got: Npy.Array, _ ref: Npy.Array) -> (err: Float, bound: Float)? {
    guard got.shape == ref.shape else { return nil }
    let g = got.floats, r = ref.floats
    var err: Float = 0, peak: Float = 0
    for i in 0..<r.count { err = max(err, abs(g[i] - r[i])); peak = max(peak, abs(r[i])) }
    return (err, 1e-4 * max(1, peak))
}

/// Issue 17: onnx's own backend node cases (the committed subset of
/// `Fixtures/conformance/onnx_node_cases.py`'s passing cases), through the CLI.
final class ONNXConformanceTests: XCTestCase {
    func testCommittedNodeCasesMatchONNXReference() throws {
        let dir = CLI.packageRoot.appendingPathComponent("Fixtures/conformance/cases")
        let cases = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertGreaterThanOrEqual(cases.count, 40, "the committed subset went missing")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        var multi = 0
        for name in cases {
            let c = dir.appendingPathComponent(name)
            // expected.npy, then expected_<k>.npy for further outputs.
            var refs = [try Npy.read(contentsOf: c.appendingPathComponent("expected.npy").path)]
            while FileManager.default.fileExists(atPath: c.appendingPathComponent("expected_\(refs.count).npy").path) {
                refs.append(try Npy.read(contentsOf: c.appendingPathComponent("expected_\(refs.count).npy").path))
            }
            var got: [Npy.Array] = []
            if refs.count == 1 {
                guard let g = try convertAndRun(c.appendingPathComponent("model.onnx").path,
                                                input: c.appendingPathComponent("input.npy").path, tmp: tmp) else { continue }
                got = [g]
            } else {
                // Several outputs: `run -o DIR --json` lists the files it wrote, in output order.
                multi += 1
                let plan = tmp.appendingPathComponent(name + ".segc").path
                let cv = try CLI.run(["convert", c.appendingPathComponent("model.onnx").path, "-o", plan, "--quiet"])
                XCTAssertEqual(cv.status, 0, "\(name): \(cv.stderr)")
                let r = try CLI.run(["run", plan, c.appendingPathComponent("input.npy").path, "-o",
                                     tmp.appendingPathComponent(name).path, "--json"])
                XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
                guard r.status == 0, let inputs = try CLI.json(r.stdout)["inputs"] as? [[String: Any]],
                      let files = inputs.first?["outputs"] as? [String] else { XCTFail("\(name): no outputs listed"); continue }
                got = try files.map { try Npy.read(contentsOf: $0) }
            }
            XCTAssertEqual(got.count, refs.count, "\(name): outputs")
            for (k, (g, ref)) in zip(got, refs).enumerated() {
                guard let (err, bound) = compare(g, ref) else {
                    XCTFail("\(name) output \(k): shape \(g.shape), expected \(ref.shape)"); continue
                }
                XCTAssertLessThanOrEqual(err, bound, "\(name) output \(k): max |error| \(err)")
            }
        }
        XCTAssertGreaterThanOrEqual(multi, 1, "no multi-output case committed")
    }
}

/// Issue 17: 1- and 4-channel conv nets exported by PyTorch at opsets 9, 13 and 18
/// (`Fixtures/channels/make_channel_nets.py`) match PyTorch at 1e-4.
final class ChannelOpsetTests: XCTestCase {
    static let dir = CLI.packageRoot.appendingPathComponent("Fixtures/channels")

    func testOneAndFourChannelNetsMatchPyTorchAtOpsets9_13_18() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        for c in [1, 4] {
            let ref = try Npy.read(contentsOf: Self.dir.appendingPathComponent("c\(c)_expected.npy").path)
            for opset in [9, 13, 18] {
                let model = Self.dir.appendingPathComponent("c\(c)_opset\(opset).onnx").path
                guard let got = try convertAndRun(model, input: Self.dir.appendingPathComponent("c\(c)_input.npy").path,
                                                  tmp: tmp) else { continue }
                guard let (err, bound) = compare(got, ref) else {
                    XCTFail("c\(c) opset \(opset): shape \(got.shape), expected \(ref.shape)"); continue
                }
                XCTAssertLessThanOrEqual(err, bound, "c\(c) opset \(opset): max |error| \(err)")
            }
        }
    }

    func testMeanStdCountMustMatchChannels() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let model = Self.dir.appendingPathComponent("c4_opset13.onnx").path
        let out = tmp.appendingPathComponent("m.segc").path
        let bad = try CLI.run(["convert", model, "-o", out, "--mean", "0.5,0.5,0.5", "--std", "0.2,0.2,0.2"])
        assertCleanError(bad, "3 means for 4 channels")
        XCTAssertTrue(bad.stderr.contains("c4_opset13.onnx") && bad.stderr.contains("4 channels"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a failed convert left a plan")
        let good = try CLI.run(["convert", model, "-o", out, "--mean", "0.1,0.2,0.3,0.4", "--std", "1,2,3,4", "--json"])
        XCTAssertEqual(good.status, 0, good.stderr)
        let inspect = try CLI.json(try CLI.run(["inspect", out, "--json"]).stdout)
        let pre = inspect["preprocessing"] as? [String: Any]
        XCTAssertEqual(pre?["mean"] as? [Double], [0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(pre?["std"] as? [Double], [1, 2, 3, 4])
    }

    /// A grey image fed to a 1-channel plan is exactly Pillow's convert('L') + BILINEAR / 255.
    func testGreyInputMatchesPillow() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("grey.segc").path, out = tmp.appendingPathComponent("grey.npy").path
        XCTAssertEqual(try CLI.run(["convert", Self.dir.appendingPathComponent("grey_relu.onnx").path, "-o", plan]).status, 0)
        let image = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        let r = try CLI.run(["run", plan, image, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try Npy.read(contentsOf: out)
        let ref = try Npy.read(contentsOf: Self.dir.appendingPathComponent("grey_fs_static_0.npy").path)
        XCTAssertEqual(got.shape, ref.shape)
        XCTAssertEqual(got.floats, ref.floats, "grey input differs from Pillow")
    }

    func testImagesFeedOnlyGreyOrRGBPlans() throws {
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let image = CLI.packageRoot.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        for c in [1, 4] {
            let plan = tmp.appendingPathComponent("c\(c).segc").path
            XCTAssertEqual(try CLI.run(["convert", Self.dir.appendingPathComponent("c\(c)_opset13.onnx").path, "-o", plan]).status, 0)
            let out = tmp.appendingPathComponent("c\(c).npy").path
            let r = try CLI.run(["run", plan, image, "-o", out])
            if c == 1 {
                XCTAssertEqual(r.status, 0, "grey image into a 1-channel plan: \(r.stderr)")
                XCTAssertEqual(try Npy.read(contentsOf: out).shape, [1, 5, 24, 32])
            } else {
                assertCleanError(r, "image into a 4-channel plan")
                XCTAssertTrue(r.stderr.contains("4 channels") && r.stderr.contains("grey"), r.stderr)
                XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            }
        }
    }
}

/// Issue 17: the SegcCompiler embedding example (library products only) converts the shared
/// MiDE-Net checkpoint to a plan and runs it.
final class ConvertExampleTests: XCTestCase {
    func testExampleConvertsAndRunsMiDENet() throws {
        let model = try CLI.sharedPath("models/midenet_distilled.pth")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("midenet.segc").path
        let p = Process()
        p.executableURL = Bundle.main.bundleURL.appendingPathComponent("ConvertExample")
        p.arguments = [model, plan, "64x128"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("midenet fp32 input [1, 3, 64, 128]"), text)
        XCTAssertTrue(text.contains("logits [1, 20, 64, 128]"), text)
        // The plan it wrote is a valid plan for the CLI too.
        let r = try CLI.run(["inspect", plan, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try CLI.json(r.stdout)["architecture"] as? String, "midenet")
    }
}

/// Issue 17: an ONNX model with two graph outputs keeps both; `run -o DIR` writes
/// `<name>.npy` for each, and both match PyTorch.
final class MultiOutputTests: XCTestCase {
    func testBothOutputsAreKeptAndMatchPyTorch() throws {
        let dir = CLI.packageRoot.appendingPathComponent("Fixtures/channels")
        let tmp = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let plan = tmp.appendingPathComponent("two.segc").path
        let c = try CLI.run(["convert", dir.appendingPathComponent("two_heads_opset17.onnx").path, "-o", plan, "--json"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual((try CLI.json(c.stdout)["warnings"] as? [String])?.count, 0, c.stdout)
        let info = try CLI.json(try CLI.run(["inspect", plan, "--json"]).stdout)
        let outs = info["outputs"] as? [[String: Any]]
        XCTAssertEqual(outs?.map { $0["name"] as? String }, ["seg", "aux"])
        XCTAssertEqual(outs?.map { $0["shape"] as? [Int] }, [[1, 4, 12, 16], [1, 2, 12, 16]])
        let out = tmp.appendingPathComponent("out").path
        let input = dir.appendingPathComponent("two_heads_input.npy").path
        let r = try CLI.run(["run", plan, input, "-o", out, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["seg", "aux"] {
            let got = try Npy.read(contentsOf: out + "/\(name).npy")
            let ref = try Npy.read(contentsOf: dir.appendingPathComponent("two_heads_\(name).npy").path)
            guard let (err, bound) = compare(got, ref) else { XCTFail("\(name): shape \(got.shape) vs \(ref.shape)"); continue }
            XCTAssertLessThanOrEqual(err, bound, "\(name): max |error| \(err)")
        }
        // With several inputs: one folder per input stem.
        let many = tmp.appendingPathComponent("many").path
        let copy = tmp.appendingPathComponent("frame2.npy").path
        try FileManager.default.copyItem(atPath: input, toPath: copy)
        let r2 = try CLI.run(["run", plan, input, copy, "-o", many])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        for stem in ["two_heads_input", "frame2"] {
            for name in ["seg", "aux"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(many)/\(stem)/\(name).npy"), "\(stem)/\(name).npy")
            }
        }
    }
}
