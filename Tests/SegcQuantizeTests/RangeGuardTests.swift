import XCTest
import SegcCompiler
import SegcCore
import SegcPlan
import SegcRuntime
import SegcQuantize

/// The range guard: `Quantizer` records, for every uint8 tensor of the plan it makes, the
/// most codes any calibration image saturated at 255 and a limit from it; a session with
/// `checksRange` reports the tensors a frame drives past their limit, in its fused and its
/// op-by-op program alike; the limits travel in META and a plan naming a wrong op is refused.
final class RangeGuardTests: XCTestCase {
    /// MiDE-Net (the demo model, always at hand) at 64x128, every conv int8, on 4 frames.
    func guarded() throws -> (PlanFile, [[Float]]) {
        var c = CompileOptions()
        c.size = (64, 128)
        let model = Int8PassTests.root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path
        let plan = try Compiler.compile(try FileBytes(contentsOf: model), options: c).plan
        let inputs = try Int8PassTests(name: "frames", testClosure: { _ in }).frames(plan, count: 4)
        var o = Quantizer.Options()
        o.fp32Layers = []
        o.threads = 2
        return (try Quantizer.quantize(plan, count: inputs.count, options: o, input: { inputs[$0] }).plan, inputs)
    }

    /// Codes at 255 in every uint8 op output, counted in Swift through the op-by-op observer.
    func saturation(_ plan: PlanFile, _ x: [Float]) throws -> [Int: Int] {
        let s = try SegcSession(model: try SegcModel(plan: plan), threads: 1)
        var counts: [Int: Int] = [:]
        s.byteObserver = { op, bytes in counts[op] = bytes.reduce(0) { $0 + ($1 == 255 ? 1 : 0) } }
        _ = try s.run(x)
        return counts
    }

    func testLimitsComeFromTheCalibrationImagesAndEveryOneOfThemPasses() throws {
        let (q, inputs) = try guarded()
        let g = q.graph
        let u8Ops = g.ops.indices.filter { g.values[g.ops[$0].outputs[0]].dtype == .u8 }
        XCTAssertEqual(q.metadata.rangeGuard.map(\.op), u8Ops, "every uint8 output is guarded")
        var maxima: [Int: Int] = [:]
        for x in inputs { for (op, n) in try saturation(q, x) { maxima[op] = max(maxima[op] ?? 0, n) } }
        XCTAssertTrue(maxima.values.contains { $0 > 0 }, "some tensor saturates on its calibration images (a sharp test)")
        for r in q.metadata.rangeGuard {
            XCTAssertEqual(r.max, maxima[r.op], "op \(r.op)")
            let n = Double(g.values[g.ops[r.op].outputs[0]].elementCount)
            XCTAssertEqual(r.limit, RangeGuard.factor * r.max + Int((RangeGuard.floor * n).rounded(.up)))
        }
        let s = try SegcSession(model: try SegcModel(plan: q), threads: 2)
        s.checksRange = true
        for x in inputs {
            _ = try s.run(x)
            XCTAssertEqual(s.rangeExcesses, [], "a calibration image is within its own range")
        }
    }

    func testAFrameBeyondCalibrationTripsTheGuardInBothPrograms() throws {
        let (q, inputs) = try guarded()
        // A frame far brighter than any calibration image (its colours x4).
        let bright = inputs[0].map { $0 * 4 }
        let s = try SegcSession(model: try SegcModel(plan: q), threads: 2)
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, [], "nothing is checked without checksRange")
        s.checksRange = true
        _ = try s.run(bright)
        let fused = s.rangeExcesses
        XCTAssertFalse(fused.isEmpty)
        let counts = try saturation(q, bright)
        for e in fused {
            XCTAssertEqual(e.saturated, counts[e.op], "the runtime's count is the tensor's")
            XCTAssertGreaterThan(e.saturated, e.limit)
            XCTAssertEqual(e.layer, q.sourceMap[e.op])
        }
        // Every tensor past its limit is reported (none missed by the fused program).
        let byLimit = Dictionary(uniqueKeysWithValues: q.metadata.rangeGuard.map { ($0.op, $0.limit) })
        XCTAssertEqual(fused.map(\.op), counts.keys.sorted().filter { counts[$0]! > byLimit[$0]! })
        s.byteObserver = { _, _ in }   // the op-by-op program
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, fused)
        s.byteObserver = nil
        _ = try s.run(inputs[1])
        XCTAssertEqual(s.rangeExcesses, [], "the next in-range frame clears the report")
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, fused)
        s.checksRange = false
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, [], "an unchecked run leaves no stale report")
        // Stopping at the first excess reports just that tensor (the rest is not run).
        s.checksRange = true
        s.stopsAtRangeExcess = true
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, [fused[0]])
        s.byteObserver = { _, _ in }
        _ = try s.run(bright)
        XCTAssertEqual(s.rangeExcesses, [fused[0]], "op by op, the same first tensor")
        s.byteObserver = nil
        _ = try s.run(inputs[1])
        XCTAssertEqual(s.rangeExcesses, [], "an in-range frame runs to the end")
    }

    /// A run that fails before the network runs (an input of the wrong size) reports no
    /// excesses: they were the previous frame's.
    func testAFailedRunLeavesNoStaleReport() throws {
        let (q, inputs) = try guarded()
        let s = try SegcSession(model: try SegcModel(plan: q), threads: 2)
        s.checksRange = true
        _ = try s.run(inputs[0].map { $0 * 4 })
        XCTAssertFalse(s.rangeExcesses.isEmpty)
        XCTAssertThrowsError(try s.run(Array(inputs[0].dropLast())))
        XCTAssertEqual(s.rangeExcesses, [], "the failed run's report, not the bright frame's")
    }

    func testTheGuardTravelsInMETAAndAWrongOneIsRefused() throws {
        let (q, _) = try guarded()
        let back = try PlanReader.read(FileBytes(bytes: try PlanWriter.serialize(q), name: "guard.segc"))
        XCTAssertEqual(back.metadata.rangeGuard, q.metadata.rangeGuard)
        let f32Op = q.graph.ops.indices.first { q.graph.values[q.graph.ops[$0].outputs[0]].dtype == .f32 }!
        let r = q.metadata.rangeGuard[0]
        for (bad, why) in [([PlanRangeLimit(op: q.graph.ops.count, max: 0, limit: 1)], "op out of range"),
                           ([PlanRangeLimit(op: f32Op, max: 0, limit: 1)], "float output"),
                           ([r, r], "twice"),
                           ([PlanRangeLimit(op: r.op, max: 5, limit: 4)], "limit below max")] {
            var p = q
            p.metadata.rangeGuard = bad
            XCTAssertThrowsError(try PlanVerifier.verify(p), why) { e in
                XCTAssertTrue("\(e)".contains("range_guard"), "\(e)")
            }
            let bytes = try PlanWriter.serialize(p, extraSections: [], verify: false)
            XCTAssertThrowsError(try PlanReader.read(FileBytes(bytes: bytes, name: "bad.segc")), why)
        }
        // Hostile META: every malformed range_guard is refused by the codec, naming the key.
        let good = String(decoding: try PlanMetadataCodec.encode(q.metadata), as: UTF8.self)
        let entry = "{\"limit\":\(r.limit),\"max\":\(r.max),\"op\":\(r.op)}"
        XCTAssertTrue(good.contains(entry), good)
        for bad in ["{\"limit\":1,\"max\":0,\"op\":-1}", "{\"limit\":1,\"max\":0,\"op\":1.5}",
                    "{\"limit\":1,\"max\":0,\"op\":\"3\"}", "{\"limit\":1,\"op\":3}", "3", "[]",
                    "{\"limit\":1e300,\"max\":0,\"op\":3}", "{\"limit\":-2,\"max\":0,\"op\":3}"] {
            let text = good.replacingOccurrences(of: entry, with: bad)
            XCTAssertThrowsError(try PlanMetadataCodec.decode(Array(text.utf8)), bad) { e in
                XCTAssertTrue("\(e)".contains("range_guard"), "\(bad): \(e)")
            }
        }
        let notArray = good.replacingOccurrences(of: "\"range_guard\":[", with: "\"range_guard\":{\"x\":[")
            .replacingOccurrences(of: "}],\"source\"", with: "}]},\"source\"")
        XCTAssertTrue(notArray.contains("}]},\"source\""), "the object form is well-formed JSON")
        XCTAssertThrowsError(try PlanMetadataCodec.decode(Array(notArray.utf8)), notArray) { e in
            XCTAssertTrue("\(e)".contains("range_guard"), "\(e)")
        }
    }
}
