import XCTest
import SegcCompiler
import SegcCore
import SegcEval
import SegcLower
import SegcPlan
import SegcReference
import SegcRuntime
import SegcQuantize

/// The quantization pass on real networks at a small input size: the int8 plan run by
/// the runtime equals the reference interpreter running its float simulation, the plan
/// verifies and round-trips, and keeping every layer in fp32 changes nothing.
final class Int8PassTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared").path

    func compile(_ path: String, h: Int = 64, w: Int = 128) throws -> PlanFile {
        var o = CompileOptions()
        o.size = (h, w)
        return try Compiler.compile(try FileBytes(contentsOf: path), options: o).plan
    }

    /// Real frames at the plan's size (the demo frame, plus the fs_static images when `../shared` is there).
    func frames(_ plan: PlanFile, count: Int) throws -> [[Float]] {
        let demo = Self.root.appendingPathComponent("Fixtures/demo/fs_static_0.jpg").path
        var files = [demo]
        let dir = Self.shared + "/data/fs_static/images"
        if let names = try? FileManager.default.contentsOfDirectory(atPath: dir) {
            // The demo frame is a copy of fs_static's 0.jpg: skip it, so `count` frames differ.
            let demoBytes = FileManager.default.contents(atPath: demo)
            files += names.sorted().filter { $0.hasSuffix(".jpg") }.map { dir + "/" + $0 }
                .filter { FileManager.default.contents(atPath: $0) != demoBytes }.prefix(count - 1)
        }
        let s = plan.graph.values[plan.graph.input].shape
        return try files.map { try Image.networkInput(contentsOf: $0, width: s[3], height: s[2]) }
    }

    func quantized(_ plan: PlanFile, inputs: [[Float]], method: CalibrationMethod = .percentile(99.99),
                   fp32: Set<Int> = []) throws -> (PlanFile, Calibration) {
        let cal = try Calibration.run(plan: plan, count: inputs.count, threads: 1, input: { inputs[$0] })
        var grids: [Int: QuantParams] = [:]
        for (v, h) in cal.histograms { grids[v] = method.params(h) }
        var q = try Int8Lowering.lower(plan, grids: grids, fp32Layers: fp32)
        q.metadata.precision = fp32.isEmpty ? "int8" : "mixed"
        return (q, cal)
    }

    func run(_ plan: PlanFile, _ x: [Float], threads: Int = 2) throws -> [Float] {
        try SegcSession(model: try SegcModel(plan: plan), threads: threads).run(x)
    }

    /// `biasCorrection`: quantized by `Quantizer` with that bias correction (every conv int8)
    /// instead of the bare pass without bias correction.
    func checkAgainstSimulation(_ path: String, name: String, biasCorrection: BiasCorrection.Mode? = nil) throws {
        let plan = try compile(path)
        let inputs = try frames(plan, count: 4)
        var (q, _) = try quantized(plan, inputs: inputs)
        if let mode = biasCorrection {
            var o = Quantizer.Options()
            o.method = .percentile(99.99)
            o.fp32Layers = []
            o.biasCorrectionMode = mode
            q = try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan
        }
        // Written and read back: the plan verifies.
        let bytes = try PlanWriter.serialize(q)
        let back = try PlanReader.read(FileBytes(bytes: bytes, name: "\(name).int8.segc"))
        XCTAssertTrue(back.graph.ops.contains { $0.kind == .qconv2d }, "\(name): convolutions are int8")
        let sim = SimulatedQuantization.plan(back)
        let graph = try Lifting.lift(sim)
        let x = inputs[0]
        let got = try run(back, x)
        let want = try ReferenceInterpreter.run(graph, inputs: [x])[0]
        XCTAssertEqual(got.count, want.count)
        let maxRef = want.map(abs).max() ?? 1
        var maxDiff: Float = 0, far = 0
        for i in got.indices {
            let d = abs(got[i] - want[i])
            maxDiff = max(maxDiff, d)
            if d > 1e-3 * maxRef { far += 1 }
        }
        let shape = back.graph.values[back.graph.output].shape
        let agree = Agreement.fraction(got.withUnsafeBufferPointer { Agreement.argmax($0, shape: shape) },
                                       want.withUnsafeBufferPointer { Agreement.argmax($0, shape: shape) })
        print("[int8] \(name): runtime vs reference simulation max|diff| \(maxDiff) (max|ref| \(maxRef)), \(far) of \(got.count) beyond 1e-3·max, argmax agreement \(agree * 100) %")
        // Integer paths are exact; float sums of integers may round once past 2^24, and a
        // requantization tie can then move one grid step: allow a handful of such values.
        XCTAssertLessThanOrEqual(Double(far), 1e-3 * Double(got.count), "\(name): int8 runtime departs from its simulation")
        XCTAssertGreaterThanOrEqual(agree, 0.999, name)
        // The int8 logits stay close to the fp32 ones on this frame.
        let fp = try run(plan, x)
        let fa = Agreement.fraction(got.withUnsafeBufferPointer { Agreement.argmax($0, shape: shape) },
                                    fp.withUnsafeBufferPointer { Agreement.argmax($0, shape: shape) })
        print("[int8] \(name): argmax agreement with fp32 \(fa * 100) %")
        XCTAssertGreaterThan(fa, 0.9, name)
        // Every thread count gives the same bits.
        XCTAssertEqual(try run(back, x, threads: 1), try run(back, x, threads: 3), name)
    }

    func testMiDENetMatchesItsSimulation() throws {
        try checkAgainstSimulation(Self.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path, name: "midenet")
    }

    func testMiDENetWithBiasCorrectionMatchesItsSimulation() throws {
        try checkAgainstSimulation(Self.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path, name: "midenet+bc",
                                   biasCorrection: .sequential)
    }

    func testERFNetMatchesItsSimulation() throws {
        let path = Self.shared + "/models/erfnet_cityscapes.pth"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "needs ../shared")
        try checkAgainstSimulation(path, name: "erfnet")
    }

    /// ERFNet's int8 plan at plain AVX2 (SEGC_NO_VNNI=1: the integer Winograd 3x1 / 1x3
    /// convs where the shapes allow, vpmaddwd elsewhere) gives the scalar level's bits.
    func testERFNetPlainAVX2MatchesTheScalarLevel() throws {
        let path = Self.shared + "/models/erfnet_cityscapes.pth"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "needs ../shared")
        try checkPlainAVX2MatchesScalar(path)
    }

    /// The same for ENet, whose regular bottlenecks' 3x3 convs take F(2x2,3x3).
    func testENetPlainAVX2MatchesTheScalarLevel() throws {
        let path = Self.shared + "/models/enet_cityscapes.pth"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "needs ../shared")
        try checkPlainAVX2MatchesScalar(path)
    }

    func checkPlainAVX2MatchesScalar(_ path: String) throws {
        guard KernelLevel.best.rawValue >= KernelLevel.avx2.rawValue else { throw XCTSkip("no AVX2") }
        let plan = try compile(path, h: 128, w: 256)
        let inputs = try frames(plan, count: 2)
        let (q, _) = try quantized(plan, inputs: inputs)
        let was = KernelLevel.current
        defer { try? KernelLevel.force(was); unsetenv("SEGC_NO_VNNI") }
        try KernelLevel.force(.scalar)
        let want = try run(q, inputs[0])
        setenv("SEGC_NO_VNNI", "1", 1)   // read when the session packs its weights
        // Both vpmaddwd kernels (their qualifying convs take the integer Winograd path).
        for (level, kernel) in [(KernelLevel.avx2, "avx2/vpmaddwd"), (.avx512, "avx512/vpmaddwd")]
        where KernelLevel.available.contains(level) {
            try KernelLevel.force(level)
            XCTAssertEqual(KernelLevel.int8ConvKernel, kernel)
            for threads in [1, 2] {
                let got = try run(q, inputs[0], threads: threads)
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(kernel) threads \(threads)")
            }
        }
    }

    func testENetMatchesItsSimulation() throws {
        let path = Self.shared + "/models/enet_cityscapes.pth"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "needs ../shared")
        try checkAgainstSimulation(path, name: "enet")
    }

    func testEveryLayerInFP32ReproducesTheFloatPlanExactly() throws {
        let plan = try compile(Self.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path)
        let inputs = try frames(plan, count: 2)
        let (q, _) = try quantized(plan, inputs: inputs, fp32: Set(Int8Lowering.layers(plan)))
        XCTAssertFalse(q.graph.ops.contains { $0.kind.isRealInt8 })
        XCTAssertEqual(try run(q, inputs[0]), try run(plan, inputs[0]))
    }

    func testQuantizedPlansAreRefused() throws {
        let plan = try compile(Self.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path)
        let inputs = try frames(plan, count: 1)
        let (q, _) = try quantized(plan, inputs: inputs)
        XCTAssertThrowsError(try Quantizer.quantize(q, count: 1, options: .init(), input: { inputs[$0] }))
        XCTAssertThrowsError(try Lifting.lift(q))
    }
}

/// The session's int8 conv tail fusion (`QConvTailFusion`: qconv → add → activation →
/// quantize as one step) changes no bit: ENet's int8 plan run fused (no observer) and op by
/// op (with an observer) gives identical logits at every kernel level, and at plain AVX2.
extension Int8PassTests {
    func testENetFusedAndUnfusedInt8ProgramsAreBitIdentical() throws {
        let t = self
        let path = Int8PassTests.shared + "/models/enet_cityscapes.pth"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "needs ../shared")
        let plan = try t.compile(path, h: 128, w: 256)
        let inputs = try t.frames(plan, count: 2)
        let (q, _) = try t.quantized(plan, inputs: inputs)
        let model = try SegcModel(plan: q)
        let spans = model.convTails.values.map { $0.span }
        print("[qtail] enet int8: \(spans.count) fused int8 tails, \(spans.filter { $0 == 4 }.count) with the quantize")
        XCTAssertGreaterThanOrEqual(spans.count, 20, "fusion no longer applies to ENet's int8 bottlenecks")
        XCTAssertGreaterThanOrEqual(spans.filter { $0 == 4 }.count, 10, "the quantize is no longer fused")
        let was = KernelLevel.current
        defer { try? KernelLevel.force(was); unsetenv("SEGC_NO_VNNI") }
        var runs: [(KernelLevel, Bool)] = KernelLevel.available.map { ($0, false) }
        for level in [KernelLevel.avx2, .avx512] where KernelLevel.available.contains(level) { runs.append((level, true)) }
        for (level, noVNNI) in runs {
            if noVNNI { setenv("SEGC_NO_VNNI", "1", 1) } else { unsetenv("SEGC_NO_VNNI") }
            try KernelLevel.force(level)
            for threads in [1, 2] {
                let session = try SegcSession(model: try SegcModel(plan: q), threads: threads)
                let fast = try session.run(inputs[0])
                session.observer = { (_: Int, _: UnsafeBufferPointer<Float>) in }
                let slow = try session.run(inputs[0])
                let differing = zip(fast, slow).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "\(level)\(noVNNI ? " SEGC_NO_VNNI" : "") threads \(threads): fused and op-by-op differ")
            }
        }
    }
}
