import XCTest
import SegcCore
import SegcIR
import SegcONNX
#if canImport(SegcReference)
import SegcReference
#endif

/// Package root (…/Tests/SegcONNXTests/ONNXImportTests.swift → …).
let packageRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// `$SEGC_SHARED` or `<package root>/../shared`.
func sharedRoot() throws -> String {
    let root = ProcessInfo.processInfo.environment["SEGC_SHARED"] ?? packageRoot + "/../shared"
    guard FileManager.default.fileExists(atPath: root + "/onnx") else {
        throw XCTSkip("shared models not found at \(root) (set SEGC_SHARED)")
    }
    return root
}

let fixtures = packageRoot + "/Fixtures/onnx"

func tempDir() throws -> String {
    let d = NSTemporaryDirectory() + "segc-onnx-test-\(UInt64.random(in: 0...UInt64.max))"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func opHistogram(_ g: Graph) -> [String: Int] {
    var h: [String: Int] = [:]
    for n in g.nodes { h[n.op.name, default: 0] += 1 }
    return h
}

func loadError(_ path: String, inputSize: (Int, Int)? = (128, 256)) -> SegcError? {
    do {
        _ = try ONNXImporter.load(path: path, inputSize: inputSize)
        return nil
    } catch {
        return error
    }
}

/// Runs the graph through the reference interpreter and compares with `expected`
/// within 1e-4 × max(1, max|ref|). Returns the max diff, or nil when the
/// reference interpreter is not linked into this test target.
func compareWithReference(_ g: Graph, input: [Float], expected: [Float], file: String) throws -> Float? {
    #if canImport(SegcReference)
    let out = try ReferenceInterpreter.run(g, inputs: [input])
    XCTAssertEqual(out.first?.count, expected.count, file)
    guard let y = out.first, y.count == expected.count else { return nil }
    var maxDiff: Float = 0, maxRef: Float = 0
    for i in 0..<y.count {
        maxDiff = max(maxDiff, abs(y[i] - expected[i]))
        maxRef = max(maxRef, abs(expected[i]))
    }
    let tol = 1e-4 * max(1, maxRef)
    XCTAssertLessThanOrEqual(maxDiff, tol, "\(file): max diff \(maxDiff) > \(tol)")
    return maxDiff
    #else
    return nil
    #endif
}

final class SharedModelTests: XCTestCase {
    func sharedFiles() throws -> (String, [String]) {
        let root = try sharedRoot()
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/onnx")
            .filter { $0.hasSuffix(".onnx") }.sorted()
        return (root, files)
    }

    static func referenceName(_ file: String) -> String {
        if file.hasPrefix("enet_void") { return "enet_void" }
        return String(file.split(separator: "_").first ?? "")
    }

    func testEverySharedFileImportsAndMatchesPyTorch() throws {
        let (root, files) = try sharedFiles()
        XCTAssertFalse(files.isEmpty)
        let input = try Npy.read(contentsOf: root + "/inputs/city1_128x256.npy")
        for f in files {
            let m = try ONNXImporter.load(path: "\(root)/onnx/\(f)", inputSize: (128, 256))
            let g = m.graph
            try g.verify()
            XCTAssertEqual(g.inputs.count, 1, f)
            XCTAssertEqual(g.type(of: g.inputs[0]).shape, [1, 3, 128, 256], f)
            XCTAssertEqual(g.outputs.count, 1, f)
            XCTAssertEqual(g.type(of: g.outputs[0]).shape, [1, 20, 128, 256], f)
            XCTAssertTrue((11...20).contains(m.opset), f)
            XCTAssertTrue(m.producer.hasPrefix("pytorch"), f)
            XCTAssertGreaterThan(m.parameterCount, 10_000, f)
            for n in g.nodes {
                switch n.op {
                case .conv2d(let c): XCTAssertEqual(c.epilogue, .none, f)
                case .convTranspose2d(let c): XCTAssertEqual(c.epilogue, .none, f)
                default: break
                }
            }
            let hist = opHistogram(g)
            if f.hasPrefix("enet") {
                XCTAssertEqual(hist["max_unpool2d"], 2, "\(f): \(hist)")
                let withIndices = g.nodes.filter { if case .maxPool2d(let p) = $0.op { return p.returnsIndices } else { return false } }
                XCTAssertEqual(withIndices.count, 2, f)
            }
            let ref = try Npy.read(contentsOf: "\(root)/reference/\(Self.referenceName(f))_128x256.npy")
            if let d = try compareWithReference(g, input: input.floats, expected: ref.floats, file: f) {
                print("\(f): max |diff| vs PyTorch = \(d)")
            }
        }
    }

    func testENetTorchExportHasOneUnpoolPerScatter() throws {
        let root = try sharedRoot()
        let m = try ONNXImporter.load(path: root + "/onnx/enet_opset18_dynamo.onnx", inputSize: (128, 256))
        let hist = opHistogram(m.graph)
        XCTAssertEqual(hist["max_unpool2d"], 2)
        for n in m.graph.nodes { XCTAssertFalse(n.op.name.contains("scatter")) }
        // Unpool outputs: [1,64,32,64] and [1,16,64,128].
        let shapes = m.graph.nodes.filter { $0.op.name == "max_unpool2d" }.map { m.graph.type(of: $0.outputs[0]).shape }
        XCTAssertEqual(shapes, [[1, 64, 32, 64], [1, 16, 64, 128]])
        // The dump shows the unpool.
        XCTAssertTrue(m.graph.dump().contains("max_unpool2d"))
    }

    func testDynamicInputSize() throws {
        let root = try sharedRoot()
        let m = try ONNXImporter.load(path: root + "/onnx/erfnet_opset11_dynamic.onnx", inputSize: (256, 512))
        XCTAssertEqual(m.dynamicDims, ["H", "W"])
        XCTAssertEqual(m.graph.type(of: m.graph.outputs[0]).shape, [1, 20, 256, 512])
        let d = try ONNXImporter.load(path: root + "/onnx/erfnet_opset11_dynamic.onnx", inputSize: nil)
        XCTAssertEqual(d.graph.type(of: d.graph.inputs[0]).shape, [1, 3, 512, 1024])
        // A static input keeps its size without --input-size.
        let s = try ONNXImporter.load(path: root + "/onnx/midenet_opset13_ts.onnx", inputSize: nil)
        XCTAssertEqual(s.graph.type(of: s.graph.inputs[0]).shape, [1, 3, 128, 256])
        XCTAssertEqual(s.dynamicDims, [])
    }

    func testStatistics() throws {
        let root = try sharedRoot()
        let a = try ONNXImporter.load(path: root + "/onnx/erfnet_opset13_ts.onnx", inputSize: (128, 256))
        let b = try ONNXImporter.load(path: root + "/onnx/erfnet_external.onnx", inputSize: (128, 256))
        XCTAssertEqual(a.initializerCount, b.initializerCount)
        XCTAssertEqual(a.parameterCount, b.parameterCount)
        XCTAssertEqual(a.irVersion, 7)
        XCTAssertEqual(a.opset, 13)
        XCTAssertEqual(a.graph.dump(), b.graph.dump())
    }

    // MARK: exports made by Fixtures/onnx/export_opsets.py (skipped when absent)

    func testOwnExportsAtOpsets11_17_18() throws {
        let root = try sharedRoot()
        let dir = ProcessInfo.processInfo.environment["SEGC_ONNX_FIXTURES"] ?? "/tmp/segc-onnx"
        let list = fixtures + "/expected_opsets.json"
        guard let data = FileManager.default.contents(atPath: list),
              let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw XCTSkip("no \(list)")
        }
        let input = try Npy.read(contentsOf: root + "/inputs/city1_128x256.npy")
        var found = 0
        for e in entries {
            guard let file = e["file"] as? String, let refRel = e["reference"] as? String else { continue }
            let path = dir + "/" + file
            guard FileManager.default.fileExists(atPath: path) else { continue }
            found += 1
            let m = try ONNXImporter.load(path: path, inputSize: (128, 256))
            XCTAssertEqual(m.opset, e["opset"] as? Int, file)
            let ref = try Npy.read(contentsOf: root + "/" + refRel)
            XCTAssertEqual(m.graph.type(of: m.graph.outputs[0]).shape, ref.shape, file)
            if let d = try compareWithReference(m.graph, input: input.floats, expected: ref.floats, file: file) {
                print("\(file): max |diff| vs PyTorch = \(d)")
            }
        }
        if found == 0 { throw XCTSkip("run Fixtures/onnx/export_opsets.py to make \(dir)") }
    }
}

final class SmallModelTests: XCTestCase {
    func testOpsAtOpsets11_17_18() throws {
        let input = try Npy.read(contentsOf: fixtures + "/ops_input.npy")
        for opset in [11, 17, 18] {
            let path = fixtures + "/ops_opset\(opset).onnx"
            let m = try ONNXImporter.load(path: path, inputSize: (16, 32))
            XCTAssertEqual(m.opset, opset)
            XCTAssertEqual(m.producer, "segc-fixture")
            // Issue 17: the second float32 output (a ConvTranspose branch) is kept, not dropped.
            XCTAssertEqual(m.warnings, [], "\(m.warnings)")
            XCTAssertEqual(m.outputNames, ["logits", "ct"])
            XCTAssertEqual(m.graph.outputs.count, 2)
            let hist = opHistogram(m.graph)
            XCTAssertEqual(hist["resize"], 3, "\(hist)")
            XCTAssertEqual(hist["global_average_pool"], 2, "\(hist)")
            XCTAssertEqual(hist["conv_transpose2d"], 1, "the second output's branch is kept")
            XCTAssertEqual(hist["softmax"], opset >= 13 ? 1 : nil)
            let expected = try Npy.read(contentsOf: fixtures + "/ops_opset\(opset)_expected.npy")
            _ = try compareWithReference(m.graph, input: input.floats, expected: expected.floats, file: path)
        }
    }

    func testUnsupportedOpsAreListedAtOnce() throws {
        guard let e = loadError(fixtures + "/unsupported.onnx", inputSize: (4, 4)) else { return XCTFail("accepted") }
        XCTAssertEqual(e.kind, .unsupported)
        XCTAssertTrue(e.description.contains("unsupported: GridSample (node '/head/GridSample', opset 17)"), e.description)
        XCTAssertTrue(e.description.contains("; Resize coordinate_transformation_mode 'tf_half_pixel_for_nn' (node '/up/Resize', opset 17)"), e.description)
        XCTAssertTrue(e.description.hasPrefix(fixtures + "/unsupported.onnx: "), e.description)
    }

    func testExternalOffsetPastEnd() throws {
        guard let e = loadError(fixtures + "/external_offset.onnx", inputSize: (4, 4)) else { return XCTFail("accepted") }
        XCTAssertEqual(e.kind, .malformed)
        XCTAssertTrue(e.description.contains("initializer 'W'"), e.description)
        XCTAssertTrue(e.description.contains("lies outside 'external_offset.onnx.data'"), e.description)
    }
}

func scanError(_ b: [UInt8]) -> SegcError? {
    b.withUnsafeBytes { (buf: UnsafeRawBufferPointer) -> SegcError? in
        do throws(SegcError) {
            _ = try PreScan.scan(buf, file: "x.onnx")
            return nil
        } catch {
            return error
        }
    }
}

final class HostileInputTests: XCTestCase {
    func testTruncatedFiles() throws {
        let root = try sharedRoot()
        let bytes = try FileBytes(contentsOf: root + "/onnx/midenet_opset13_ts.onnx").toArray()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for cut in [1, 7, 100, 1000, bytes.count / 3, bytes.count / 2, bytes.count - 1] {
            let path = dir + "/cut.onnx"
            FileManager.default.createFile(atPath: path, contents: Data(bytes[0..<cut]))
            guard let e = loadError(path) else { XCTFail("truncated at \(cut) accepted"); continue }
            XCTAssertEqual(e.kind, .malformed, "\(cut): \(e)")
            XCTAssertEqual(e.file, path)
        }
        let empty = dir + "/empty.onnx"
        FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertEqual(loadError(empty)?.kind, .malformed)
    }

    func testMissingExternalDataFile() throws {
        let root = try sharedRoot()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: root + "/onnx/erfnet_external.onnx", toPath: dir + "/erfnet_external.onnx")
        guard let e = loadError(dir + "/erfnet_external.onnx") else { return XCTFail("accepted") }
        XCTAssertEqual(e.kind, .io)
        XCTAssertTrue(e.description.contains("external data file 'erfnet_external.onnx.data' not found"), e.description)
        XCTAssertTrue(e.description.contains("initializer '"), e.description)
    }

    func testSymlinkOutsideFolderRefused() throws {
        let root = try sharedRoot()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: root + "/onnx/erfnet_external.onnx", toPath: dir + "/erfnet_external.onnx")
        let target = URL(fileURLWithPath: root + "/onnx/erfnet_external.onnx.data").standardizedFileURL.path
        try FileManager.default.createSymbolicLink(atPath: dir + "/erfnet_external.onnx.data", withDestinationPath: target)
        guard let e = loadError(dir + "/erfnet_external.onnx") else { return XCTFail("accepted") }
        XCTAssertEqual(e.kind, .refused, e.description)
    }

    func testWireFormatErrors() throws {
        func scan(_ b: [UInt8]) -> SegcError? { scanError(b) }
        XCTAssertNil(scan([0x08, 0x07]))                                   // ir_version = 7
        XCTAssertEqual(scan([0x0b])?.kind, .malformed)                     // group start
        XCTAssertEqual(scan([0x08] + [UInt8](repeating: 0xff, count: 11))?.kind, .malformed)  // long varint
        XCTAssertEqual(scan([0x3a, 0x05, 0x0a, 0x10])?.kind, .malformed)   // graph longer than the file
        XCTAssertEqual(scan([0x3a, 0x02, 0x0a, 0x05])?.kind, .malformed)   // node longer than its graph
        XCTAssertEqual(scan([0x00, 0x00])?.kind, .malformed)               // field 0
        // Garbage never crashes.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let n = Int.random(in: 1...64, using: &rng)
            let b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let f = FileBytes(bytes: b, name: "garbage.onnx")
            do { _ = try ONNXImporter.load(f, path: "/nonexistent/garbage.onnx", inputSize: (8, 8)) } catch {
                XCTAssertNotEqual(error.kind, .limit)
            }
        }
    }

    /// Loading fuzz reproducer `Tests/Fuzz/FuzzONNX/crash_<name>.bin` is refused with one of
    /// `kinds`, and the error's text contains every one of `texts` (node names, causes).
    func assertReproducerRefused(_ name: String, _ kinds: Set<SegcError.Kind>, naming texts: [String],
                                 file: StaticString = #filePath, line: UInt = #line) {
        guard let e = loadError(packageRoot + "/Tests/Fuzz/FuzzONNX/crash_\(name).bin", inputSize: nil) else {
            return XCTFail("\(name): accepted", file: file, line: line)
        }
        XCTAssertTrue(kinds.contains(e.kind), "\(name): \(e)", file: file, line: line)
        for t in texts { XCTAssertTrue(e.description.contains(t), "\(name): \(e)", file: file, line: line) }
    }

    /// Fuzz finding (session 14): a Slice with more starts than its input has axes and no
    /// `axes` input took axes 0 ..< starts.count and read the shape past its end (a trap in
    /// `convert`). The reproducer slices a rank-0 value with one start.
    func testSliceWithMoreStartsThanAxesIsRefused() throws {
        assertReproducerRefused("slice_starts_past_rank", [.malformed],
                                naming: ["Slice: 1 starts for an input of rank 0", "crash_slice_starts_past_rank.bin"])
    }

    /// Review (session 15): a constant with no elements may have other dims whose product
    /// overflows Int ([0, 2^31-1, 2^31-1, 2^31-1] is a valid initializer). Folding it
    /// computed strides or dim products with trapping `*` (SIGILL in `convert`): Transpose,
    /// Add (broadcast), Pad and Slice (strides), Flatten, Gather and per-axis
    /// DequantizeLinear (products). Each reproducer folds `z` in the node named.
    func testEmptyConstantWithHugeDimsIsRefused() throws {
        for (op, node) in [("transpose", "tr"), ("add", "add"), ("pad", "pad"), ("slice", "sl"),
                           ("flatten", "fl"), ("gather", "ga"), ("dequantize", "dq")] {
            assertReproducerRefused("\(op)_empty_huge_dims", [.malformed], naming: ["overflows", "'\(node)'"])
        }
    }

    /// Review (session 15): a folded Concat was never size-checked. Three Concats of 1024
    /// copies of the previous one (from one float) asked for 2^30 elements as float64, 8 GiB
    /// in one allocation (15 KB file; with more levels, as much as wished). It is now
    /// refused by the allocation limit like every other fold, at node 'cat2'.
    func testConcatOfConcatsIsSizeChecked() throws {
        assertReproducerRefused("concat_of_concats_huge", [.limit], naming: ["Concat result size in bytes", "'cat2'"])
    }

    /// Review (session 15): runtime values' shapes were not checked at import. A Concat of
    /// Concats (4097 × 64 copies of a [1,1,16384,1] input along H) made H > 2^32; the
    /// Resize after it computed its keep_aspect_ratio_policy size past Int64 (`Int(Double)`
    /// trap), the ConvTranspose after it `stride·(H-1)` with trapping `*`. An Expand of the
    /// input to [2^31-1, 2^31-1, 2^31-1, 1, 3, 8, 8] multiplied the dims with trapping `*`.
    func testRuntimeShapesPastTheLimitsAreRefused() throws {
        for (file, node) in [("resize_after_huge_concat", "'cat'"), ("convtranspose_after_huge_concat", "'cat'"),
                             ("expand_runtime_huge_shape", "'ex'")] {
            assertReproducerRefused(file, [.limit, .malformed], naming: [node])
        }
    }

    /// Review (session 15): MaxUnpool's output_shape [1, 3, 2^62, 4] was multiplied (H·W,
    /// to compare with the pool's plane) with trapping `*`.
    func testMaxUnpoolOutputShapeIsBounded() throws {
        assertReproducerRefused("maxunpool_output_shape_overflow", [.malformed],
                                naming: ["MaxUnpool: output_shape [1, 3, 4611686018427387904, 4]", "'unpool'"])
    }

    /// Review (session 15): plane offsets added to per-plane pool indices come from the file.
    /// Offsets [0, 2^62, 2^63-1] (plane 2^62) made the pattern check `(n·C+c)·plane` trap;
    /// offsets [0, 2^62+1] (two channels) matched, and ScatterND's `N·C·plane` trapped. A
    /// plane whose N·C planes exceed the element limit is now no unpool pattern (at the Add).
    func testHugePlaneOffsetsAreNotAnUnpoolPattern() throws {
        for file in ["index_offsets_overflow", "scatternd_huge_plane"] {
            assertReproducerRefused(file, [.unsupported], naming: ["Add on max-pool indices outside the unpool pattern (node 'add'"])
        }
    }

    func testNodeLimit() throws {
        // graph { node {} × (limit + 1) }
        let nodes = Limits.maxOnnxNodes + 1
        var graph: [UInt8] = []
        graph.reserveCapacity(nodes * 2)
        for _ in 0..<nodes { graph += [0x0a, 0x00] }
        var model: [UInt8] = [0x3a]
        var len = graph.count
        while len >= 0x80 { model.append(UInt8(len & 0x7f) | 0x80); len >>= 7 }
        model.append(UInt8(len))
        model += graph
        XCTAssertEqual(scanError(model)?.kind, .limit)
    }
}

/// Issue 17: the reference interpreter's general Resize (cubic, antialias, crop, explicit
/// scales, keep_aspect_ratio_policy) against onnx's own expected outputs, on every
/// committed Resize conformance case (the runtime kernel is checked by the CLI tests).
final class GeneralResizeReferenceTests: XCTestCase {
    func testReferenceMatchesONNXOnResizeConformanceCases() throws {
        let dir = packageRoot + "/Fixtures/conformance/cases"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("test_resize") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 30, "resize cases missing")
        var general = 0
        for name in names {
            let c = dir + "/" + name
            let m = try ONNXImporter.load(path: c + "/model.onnx", inputSize: nil)
            if m.graph.nodes.contains(where: { if case .resize(let r) = $0.op { r.general != nil } else { false } }) { general += 1 }
            let input = try Npy.read(contentsOf: c + "/input.npy")
            let expected = try Npy.read(contentsOf: c + "/expected.npy")
            _ = try compareWithReference(m.graph, input: input.floats, expected: expected.floats, file: name)
        }
        XCTAssertGreaterThanOrEqual(general, 20, "too few cases took the general resize")
    }
}

/// Issue 17: the reference interpreter's training-mode BatchNormalization (all three
/// outputs) against onnx's expected values.
final class BatchNormTrainingReferenceTests: XCTestCase {
    func testReferenceMatchesONNX() throws {
        for name in ["test_batchnorm_example_training_mode", "test_batchnorm_epsilon_training_mode"] {
            let c = packageRoot + "/Fixtures/conformance/cases/" + name
            let m = try ONNXImporter.load(path: c + "/model.onnx", inputSize: nil)
            XCTAssertEqual(m.graph.outputs.count, 3, name)
            let input = try Npy.read(contentsOf: c + "/input.npy")
            let outs = try ReferenceInterpreter.run(m.graph, inputs: [input.floats])
            for (k, file) in ["expected.npy", "expected_1.npy", "expected_2.npy"].enumerated() {
                let ref = try Npy.read(contentsOf: c + "/" + file).floats
                XCTAssertEqual(outs[k].count, ref.count, "\(name) output \(k)")
                let err = zip(outs[k], ref).map { abs($0 - $1) }.max() ?? 0
                let bound = 1e-4 * max(1, ref.map(abs).max() ?? 0)
                XCTAssertLessThanOrEqual(err, bound, "\(name) output \(k)")
            }
        }
    }
}
