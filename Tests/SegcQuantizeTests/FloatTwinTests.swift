import XCTest
import SegcCompiler
import SegcCore
import SegcPlan
import SegcRuntime
import SegcQuantize

/// The float twin of an int8 plan (`SegcModel.floatTwin`): built from the int8 weights and
/// the grids `Int8Lowering` records, it must compute what the fp32 plan computes with its
/// weights rounded to the int8 grids (no activation rounding, no clipping) — checked against
/// that plan built independently here, on MiDE-Net (convs) and ERFNet (transposed convs too).
final class FloatTwinTests: XCTestCase {
    func compile(_ path: String) throws -> PlanFile {
        var c = CompileOptions()
        c.size = (64, 128)
        return try Compiler.compile(try FileBytes(contentsOf: path), options: c).plan
    }

    /// The fp32 plan with every conv's weights replaced by their int8 per-channel rounding and
    /// its bias by the int32 bias of the int8 plan `q` (in accumulator units s_x·s_w). A channel
    /// with near-zero weights has a tiny s_w, and its bias may not fit in int32 beside the sum
    /// Σ(x − x_zp)·w (ERFNet has six such channels): the pass then widens that channel's weight
    /// scale until it fits (`QuantizedWeights.fitBiases`), written out again here.
    func weightsRounded(_ plan: PlanFile, like q: PlanFile) -> PlanFile {
        var wb = PlanWeightBuilder(source: plan.weights)
        var g = plan.graph
        var inputGrid: [String: (scale: Float, zeroPoint: Int)] = [:]
        for v in q.metadata.valueGrids {
            for (i, op) in q.graph.ops.enumerated() where (op.kind == .qconv2d || op.kind == .qconvTranspose2d) && op.inputs[0] == v.value {
                inputGrid[q.sourceMap[i]] = (v.scale, Int(v.zeroPoint))
            }
        }
        for (i, op) in g.ops.enumerated() {
            var o = op
            o.weights = op.weights.map { wb.copy($0) }
            if op.kind == .conv2d || op.kind == .convTranspose2d {
                let ref = op.weights[0], w = wb.floats(ref), s = ref.shape, k = s[2] * s[3]
                let t = op.kind == .convTranspose2d
                let groups = Int(op.ints[t ? PlanOpSchema.ConvTranspose.groups : PlanOpSchema.Conv.groups])
                var q = t ? QuantizedWeights.convTranspose(w, shape: s, groups: groups) : QuantizedWeights.conv(w, shape: s)
                // Written out here rather than through ConvWeightLayout, which the pass and the twin share.
                let channel = { (i: Int) -> Int in t ? (i / (s[1] * k)) / (s[0] / groups) * s[1] + (i / k) % s[1] : i / (s[1] * k) }
                if let (sx, zp) = inputGrid[plan.sourceMap[i]] {
                    let hasBias = op.ints[t ? PlanOpSchema.ConvTranspose.hasBias : PlanOpSchema.Conv.hasBias] == 1
                    let b = hasBias ? wb.floats(op.weights[1]) : [Float](repeating: 0, count: q.scales.count)
                    var fitted = [Float](repeating: 0, count: b.count), byChannel = [[Int]](repeating: [], count: b.count)
                    for i in w.indices { byChannel[channel(i)].append(i) }
                    for c in b.indices {
                        let members = byChannel[c]
                        var limit = Double(Int32.max) - Double(max(zp, 255 - zp)) * members.reduce(0.0) { $0 + Double(abs(Int(q.values[$1]))) }
                        if Double(abs(b[c] / (sx * q.scales[c])).rounded()) > limit {
                            q.scales[c] = abs(b[c]) / (sx * Float(limit))
                            for m in members { q.values[m] = Int8(max(-127, min(127, (w[m] / q.scales[c]).rounded(.toNearestOrEven)))) }
                            limit = Double(Int32.max) - Double(max(zp, 255 - zp)) * members.reduce(0.0) { $0 + Double(abs(Int(q.values[$1]))) }
                        }
                        let acc = sx * q.scales[c]
                        fitted[c] = Float(max(-limit, min(limit, Double((b[c] / acc).rounded(.toNearestOrEven))))) * acc
                    }
                    if hasBias { o.weights[1] = wb.add(fitted, shape: [fitted.count]) }
                }
                let rounded = w.indices.map { Float(q.values[$0]) * q.scales[channel($0)] }
                o.weights[0] = wb.add(rounded, shape: s)
            }
            g.ops[i] = o
        }
        return PlanFile(metadata: plan.metadata, graph: g, weights: PlanWeights(owned: wb.bytes), sourceMap: plan.sourceMap)
    }

    /// `exact`: the twin must equal the rounded-weights plan (MiDE-Net, ERFNet: every grid with
    /// zero point 0 follows a ReLU). ENet's PReLU outputs get such grids too, where int8 — and
    /// so the twin — clamps what the float PReLU passes; there only "closer to fp32 than int8".
    func check(_ path: String, name: String, exact: Bool = true) throws {
        let plan = try compile(path)
        let inputs = try Int8PassTests(name: "frames", testClosure: { _ in }).frames(plan, count: 4)
        var o = Quantizer.Options()
        o.fp32Layers = []
        o.biasCorrection = false   // the twin then has exactly the rounded weights' biases
        o.threads = 2
        let q = try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan
        let u8 = q.graph.values.indices.filter { q.graph.values[$0].dtype == .u8 }
        XCTAssertEqual(q.metadata.valueGrids.map(\.value), u8, "\(name): every uint8 value has its grid")
        let int8 = try SegcModel(plan: q)
        XCTAssertTrue(int8.hasFloatTwin)
        let twin = try int8.floatTwin()
        XCTAssertFalse(twin.plan.graph.ops.contains { $0.kind.isRealInt8 }, "\(name): the twin is float throughout")
        XCTAssertEqual(twin.plan.metadata.precision, "fp32")
        let want = try SegcSession(model: try SegcModel(plan: weightsRounded(plan, like: q)), threads: 2)
        let fp32 = try SegcSession(model: try SegcModel(plan: plan), threads: 2)
        let got = try SegcSession(model: twin, threads: 2), q8 = try SegcSession(model: int8, threads: 2)
        // A frame 4x as bright as the first: past every grid, where int8 clips and the twin does not.
        for (k, x) in (inputs + [inputs[0].map { $0 * 4 }]).enumerated() {
            let a = try got.run(x), b = try want.run(x), f = try fp32.run(x), i8 = try q8.run(x)
            let scale = b.map { abs($0) }.max() ?? 1
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            func rms(_ u: [Float], _ v: [Float]) -> Double { (zip(u, v).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(u.count)).squareRoot() }
            print("[twin] \(name) frame \(k): max|twin − rounded-weights fp32| \(diff) (max|ref| \(scale)); rms vs fp32: twin \(rms(a, f)), int8 \(rms(i8, f))")
            if exact { XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "\(name) frame \(k)") }
            XCTAssertLessThan(rms(a, f), rms(i8, f), "\(name) frame \(k): the twin is closer to fp32 than int8 is")
        }
    }

    func testMiDENetTwinIsTheRoundedWeightsPlan() throws {
        try check(Int8PassTests.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path, name: "midenet")
    }

    func testERFNetTwinIsTheRoundedWeightsPlan() throws {
        let path = Int8PassTests.shared + "/models/erfnet_cityscapes.pth"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no ../shared") }
        try check(path, name: "erfnet")
    }

    func testENetTwinIsCloserToFP32ThanInt8() throws {
        let path = Int8PassTests.shared + "/models/enet_cityscapes.pth"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no ../shared") }
        try check(path, name: "enet", exact: false)
    }

    /// A plan with several outputs (an ONNX model with two heads): the twin has the same
    /// outputs, each the rounded-weights plan's. Its META named the int8 plan's value indices
    /// for the extra outputs, which in the twin are other values (or none kept alive).
    func testTheTwinKeepsEveryOutputOfTheInt8Plan() throws {
        let path = Int8PassTests.root.appendingPathComponent("Fixtures/channels/two_heads_opset17.onnx").path
        let plan = try Compiler.compile(try FileBytes(contentsOf: path), options: CompileOptions()).plan
        // Centred frames: the input's grid has a zero point, so the twin adds no ReLU after its
        // quantize and its value indices are not the int8 plan's.
        let inputs = try Int8PassTests(name: "frames", testClosure: { _ in }).frames(plan, count: 4).map { $0.map { $0 - 0.5 } }
        var o = Quantizer.Options()
        o.fp32Layers = []
        o.biasCorrection = false
        o.threads = 2
        let q = try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan
        XCTAssertTrue(q.metadata.valueGrids.contains { $0.zeroPoint > 0 })
        let int8 = try SegcModel(plan: q), twin = try int8.floatTwin()
        XCTAssertEqual(int8.outputNames.count, 2)
        XCTAssertEqual(twin.outputNames, int8.outputNames)
        XCTAssertEqual(twin.outputShapes, int8.outputShapes)
        let got = try SegcSession(model: twin, threads: 2)
        let want = try SegcSession(model: try SegcModel(plan: weightsRounded(plan, like: q)), threads: 2)
        for (f, x) in (inputs + [inputs[0].map { $0 * 4 }]).enumerated() {
            _ = try got.run(x); _ = try want.run(x)
            for k in 0..<2 {
                let a = Array(try got.output(k)), b = Array(try want.output(k))
                let scale = b.map { abs($0) }.max() ?? 1
                let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThanOrEqual(diff, 1e-5 * scale, "frame \(f) output \(k) (\(twin.outputNames[k]))")
            }
        }
    }

    /// The demo MiDE-Net (64x128) with every conv in int8, calibrated on 2 frames.
    func allInt8DemoPlan() throws -> PlanFile {
        let plan = try compile(Int8PassTests.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path)
        let inputs = try Int8PassTests(name: "frames", testClosure: { _ in }).frames(plan, count: 2)
        var o = Quantizer.Options()
        o.fp32Layers = []
        return try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan
    }

    /// META value_grids round-trips; wrong or hostile entries are refused, naming the key.
    func testValueGridsTravelInMETAAndBadOnesAreRefused() throws {
        let q = try allInt8DemoPlan()
        let back = try PlanReader.read(FileBytes(bytes: try PlanWriter.serialize(q), name: "grids.segc"))
        XCTAssertEqual(back.metadata.valueGrids, q.metadata.valueGrids)
        let v = q.metadata.valueGrids[0]
        let f32 = q.graph.values.indices.first { q.graph.values[$0].dtype == .f32 }!
        for (bad, why) in [([PlanValueGrid(value: q.graph.values.count, scale: 1, zeroPoint: 0)], "value out of range"),
                           ([PlanValueGrid(value: f32, scale: 1, zeroPoint: 0)], "a float value"), ([v, v], "twice")] {
            var p = q
            p.metadata.valueGrids = bad
            XCTAssertThrowsError(try PlanVerifier.verify(p), why) { e in XCTAssertTrue("\(e)".contains("value_grids"), "\(e)") }
        }
        let good = String(decoding: try PlanMetadataCodec.encode(q.metadata), as: UTF8.self)
        let entry = "{\"scale\":\(Double(v.scale)),\"value\":\(v.value),\"zero_point\":\(v.zeroPoint)}"
        XCTAssertTrue(good.contains(entry), entry)
        for bad in ["{\"scale\":0,\"value\":\(v.value),\"zero_point\":0}", "{\"scale\":-1,\"value\":\(v.value),\"zero_point\":0}",
                    "{\"scale\":1e300,\"value\":\(v.value),\"zero_point\":0}", "{\"scale\":1,\"value\":\(v.value),\"zero_point\":256}",
                    "{\"scale\":1,\"value\":-1,\"zero_point\":0}", "{\"scale\":1,\"zero_point\":0}", "7"] {
            XCTAssertThrowsError(try PlanMetadataCodec.decode(Array(good.replacingOccurrences(of: entry, with: bad).utf8)), bad) { e in
                XCTAssertTrue("\(e)".contains("value_grids"), "\(bad): \(e)")
            }
        }
    }

    /// A plan whose META grids disagree with the zero points and scales its int8 ops record
    /// (edited or damaged) has no twin: the twin would compute another network than the int8
    /// plan runs. It was built, quietly.
    func testGridsThatDisagreeWithTheOpsGiveNoTwin() throws {
        let q = try allInt8DemoPlan()
        XCTAssertNoThrow(try SegcModel(plan: q).floatTwin())
        for k in [0, q.metadata.valueGrids.count / 2, q.metadata.valueGrids.count - 1] {
            for edit in 0..<2 {
                var p = q
                if edit == 0 { p.metadata.valueGrids[k].zeroPoint = (p.metadata.valueGrids[k].zeroPoint + 1) % 256 }
                else { p.metadata.valueGrids[k].scale *= 2 }
                let m = try SegcModel(plan: p)   // the int8 plan itself is sound
                // A changed scale shows only where an op records one (quantize / dequantize).
                let recorded = p.graph.ops.contains { [.quantize, .dequantize].contains($0.kind)
                    && ($0.outputs[0] == p.metadata.valueGrids[k].value || $0.inputs[0] == p.metadata.valueGrids[k].value) }
                if edit == 1 && !recorded { continue }
                XCTAssertThrowsError(try m.floatTwin(), "grid \(k) edit \(edit)") { e in
                    XCTAssertTrue("\(e)".contains("value_grids gives value \(p.metadata.valueGrids[k].value)"), "\(e)")
                }
            }
        }
    }

    func testPlansWithoutGridsHaveNoTwin() throws {
        let plan = try compile(Int8PassTests.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path)
        let m = try SegcModel(plan: plan)
        XCTAssertFalse(m.hasFloatTwin)
        XCTAssertThrowsError(try m.floatTwin()) { e in XCTAssertTrue("\(e)".contains("no float twin"), "\(e)") }
    }
}
