import XCTest
import Foundation
import SegcCore
import SegcPlan

final class PlanRoundTripTests: XCTestCase {
    func read(_ b: [UInt8], name: String = "t.segc") throws(SegcError) -> PlanFile {
        try PlanReader.read(FileBytes(bytes: b, name: name))
    }

    func refusal(_ b: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> SegcError? {
        do throws(SegcError) {
            _ = try read(b)
            XCTFail("plan was accepted", file: file, line: line)
            return nil
        } catch { return error }
    }

    func testRoundTrip() throws {
        let plan = Fixture.plan()
        let bytes = try PlanWriter.serialize(plan)
        let back = try read(bytes)
        XCTAssertEqual(back.metadata, plan.metadata)
        XCTAssertEqual(back.graph, plan.graph)
        XCTAssertEqual(back.sourceMap, plan.sourceMap)
        XCTAssertEqual(back.weights, plan.weights)
        XCTAssertEqual(back, plan)
        guard case .mapped(_, let off, let n) = back.weights.storage else { return XCTFail("weights were copied") }
        XCTAssertEqual(off % 64, 0)
        XCTAssertEqual(n, plan.weights.count)
        // Re-serialising what was read gives the same bytes.
        XCTAssertEqual(try PlanWriter.serialize(back), bytes)
    }

    func testRoundTripWithoutSourceMapAndOptionalMetadata() throws {
        var plan = Fixture.plan()
        plan.sourceMap = []
        plan.metadata.quantization = nil
        plan.metadata.classNames = []
        let bytes = try PlanWriter.serialize(plan)
        XCTAssertNil(Fixture.section(bytes, "SRCM"))
        XCTAssertEqual(try read(bytes), plan)
    }

    func testDeterminism() throws {
        let a = try PlanWriter.serialize(Fixture.plan())
        let b = try PlanWriter.serialize(Fixture.plan())
        XCTAssertEqual(a, b)
    }

    func testLayout() throws {
        let b = try PlanWriter.serialize(Fixture.plan())
        XCTAssertEqual(Array(b[0..<8]), Array("SEGCPLAN".utf8))
        XCTAssertEqual(Fixture.le(b, 8, UInt16.self), 1)
        XCTAssertEqual(Fixture.le(b, 10, UInt16.self), 0)
        XCTAssertEqual(Fixture.le(b, 12, UInt32.self), 64)
        XCTAssertEqual(Fixture.le(b, 16, UInt64.self), UInt64(b.count))
        XCTAssertEqual(Fixture.le(b, 24, UInt32.self), 4)
        XCTAssertEqual(Fixture.le(b, 32, UInt64.self), 64)
        let entries = try PlanReader.sections(FileBytes(bytes: b))
        XCTAssertEqual(entries.map(\.tag), ["META", "GRPH", "WGHT", "SRCM"])
        XCTAssertEqual(entries.map(\.required), [true, true, true, false])
        for e in entries { XCTAssertEqual(e.offset % 64, 0) }
        // META is compact JSON with sorted keys.
        let (mo, ml) = try XCTUnwrap(Fixture.section(b, "META"))
        let json = String(decoding: b[mo..<(mo + ml)], as: UTF8.self)
        XCTAssertTrue(json.hasPrefix(#"{"architecture":"test-net","class_names":["road","#), json)
        XCTAssertTrue(json.contains(#""input":{"dtype":"float32","layout":"NCHW","shape":[1,3,8,8]}"#), json)
        XCTAssertTrue(json.contains(#""std":[0.229,0.224,0.225]"#), json)
    }

    func testWriteAndReadPath() throws {
        let dir = NSTemporaryDirectory() + "segc-plan-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.segc"
        try PlanWriter.write(Fixture.plan(), to: path)
        let back = try PlanReader.read(path: path)
        XCTAssertEqual(back, Fixture.plan())
        // A refused plan names the file.
        var bad = try PlanWriter.serialize(Fixture.plan())
        bad[bad.count - 1] ^= 1
        let badPath = dir + "/bad.segc"
        XCTAssertTrue(FileManager.default.createFile(atPath: badPath, contents: Data(bad)))
        XCTAssertThrowsError(try PlanReader.read(path: badPath)) { e in
            XCTAssertEqual((e as? SegcError)?.file, badPath)
        }
        // Missing file: an I/O error.
        XCTAssertThrowsError(try PlanReader.read(path: dir + "/none.segc")) { e in
            XCTAssertEqual((e as? SegcError)?.kind, .io)
        }
    }

    func testChecksumMessage() throws {
        var b = try PlanWriter.serialize(Fixture.plan())
        let (wo, _) = try XCTUnwrap(Fixture.section(b, "WGHT"))
        b[wo + 5] ^= 0xFF
        let e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.kind, .mismatch)
        XCTAssertEqual(e.location, .section("WGHT"))
        XCTAssertTrue(e.description.hasPrefix("t.segc: section WGHT: checksum mismatch (stored 0x"), e.description)
        XCTAssertTrue(e.description.contains(", computed 0x"), e.description)
    }

    func testEveryByteFlipIsRefused() throws {
        let b = try PlanWriter.serialize(Fixture.plan())
        XCTAssertLessThan(b.count, 8192)
        for i in 0..<b.count {
            for x: UInt8 in [0x01, 0xFF] {
                var c = b
                c[i] ^= x
                do throws(SegcError) {
                    _ = try read(c)
                    XCTFail("flip \(x) at byte \(i) was accepted")
                } catch {
                    XCTAssertEqual(error.file, "t.segc")
                    XCTAssertNotNil(error.location)
                }
            }
        }
    }

    func testEveryTruncationIsRefused() throws {
        let b = try PlanWriter.serialize(Fixture.plan())
        for n in 0..<b.count {
            do throws(SegcError) {
                _ = try read(Array(b[0..<n]))
                XCTFail("truncation to \(n) bytes was accepted")
            } catch {
                XCTAssertEqual(error.file, "t.segc")
            }
        }
        // Appended bytes too.
        XCTAssertNotNil(refusal(b + [0]))
        XCTAssertNotNil(refusal(b + [UInt8](repeating: 0, count: 64)))
    }

    func testRandomGarbageIsRefused() throws {
        var rng = SystemRandomNumberGenerator()
        let valid = try PlanWriter.serialize(Fixture.plan())
        for round in 0..<400 {
            let n = Int.random(in: 0..<3000, using: &rng)
            var g = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if round % 2 == 1 && n >= 8 { g.replaceSubrange(0..<8, with: Array("SEGCPLAN".utf8)) }
            if round % 4 == 3 && n >= 64 {
                // A valid header prefix with garbage after it, resealed.
                g.replaceSubrange(0..<64, with: valid[0..<64])
            }
            XCTAssertNotNil(refusal(g))
        }
        // Random multi-byte corruption of a valid plan.
        for _ in 0..<300 {
            var c = valid
            for _ in 0..<Int.random(in: 1...20, using: &rng) {
                c[Int.random(in: 0..<c.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if c == valid { continue }
            XCTAssertNotNil(refusal(c))
        }
    }

    func testUnknownMajorVersion() throws {
        var b = try PlanWriter.serialize(Fixture.plan())
        Fixture.put(&b, 8, UInt16(2))
        var e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.message, "plan format 2.0 needs a newer segc")
        XCTAssertEqual(e.kind, .unsupported)
        Fixture.reseal(&b)
        e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.description, "t.segc: at byte 8: plan format 2.0 needs a newer segc")
        // A newer minor version is read.
        var minor = try PlanWriter.serialize(Fixture.plan())
        Fixture.put(&minor, 10, UInt16(7))
        Fixture.reseal(&minor)
        XCTAssertEqual(try read(minor), Fixture.plan())
    }

    func testUnknownRequiredSectionIsRefused() throws {
        let b = try PlanWriter.serialize(Fixture.plan(), extraSections: [PlanExtraSection(tag: "ZZZZ", required: true, bytes: [1, 2, 3])])
        let e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.kind, .unsupported)
        XCTAssertEqual(e.location, .section("ZZZZ"))
        XCTAssertTrue(e.message.contains("unknown required section"))
    }

    func testUnknownOptionalSectionIsAccepted() throws {
        let extra = [PlanExtraSection(tag: "STAT", required: false, bytes: Array(0..<100)),
                     PlanExtraSection(tag: "XTRA", required: false, bytes: [])]
        var b = try PlanWriter.serialize(Fixture.plan(), extraSections: extra)
        XCTAssertEqual(try read(b), Fixture.plan())
        // …but still checksum-verified.
        let (xo, _) = try XCTUnwrap(Fixture.section(b, "STAT"))
        b[xo + 10] ^= 1
        let e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.location, .section("STAT"))
    }

    func testShapeMismatchWithValidChecksums() throws {
        var b = try PlanWriter.serialize(Fixture.plan())
        let (go, _) = try XCTUnwrap(Fixture.section(b, "GRPH"))
        // Value 6 (convT output [1,2,16,16]): skip the graph header and values 0–5 (all rank 4).
        let v6 = go + 32 + 6 * (16 + 32)
        XCTAssertEqual(Fixture.le(b, v6 + 16 + 24, Int64.self), 16)
        Fixture.put(&b, v6 + 16 + 24, Int64(15))
        XCTAssertNotNil(refusal(b)) // checksum
        Fixture.reseal(&b)
        let e = try XCTUnwrap(refusal(b))
        XCTAssertEqual(e.kind, .mismatch, e.description)
        XCTAssertEqual(e.location, .section("GRPH"))
        XCTAssertTrue(e.message.contains("op 4"), e.message)
        XCTAssertTrue(e.message.contains("recorded as float32[1, 2, 16, 15]"), e.message)
    }

    /// Value and op counts past `Limits.maxPlanValues` / `maxPlanOps` are refused before
    /// anything is allocated (the float twin's placement is quadratic in the values), and
    /// the writer does not write such a plan.
    func testValueAndOpCountsAreLimited() throws {
        let b = try PlanWriter.serialize(Fixture.plan())
        let (go, _) = try XCTUnwrap(Fixture.section(b, "GRPH"))
        for (at, what) in [(go + 4, "200001 values"), (go + 8, "200001 ops")] {
            var c = b
            Fixture.put(&c, at, UInt32(Limits.maxPlanValues + 1))
            Fixture.reseal(&c)
            let e = try XCTUnwrap(refusal(c), what)
            XCTAssertEqual(e.kind, .limit, e.description)
            XCTAssertTrue(e.message.contains(what) && e.message.contains("exceed the limits of 200000 values and 200000 ops"), e.message)
        }
        var g = Fixture.plan()
        g.graph.values += Array(repeating: g.graph.values[0], count: Limits.maxPlanValues + 1 - g.graph.values.count)
        XCTAssertThrowsError(try PlanGraphCodec.encode(g.graph)) { e in
            XCTAssertTrue("\(e)".contains("plan value count 200001 exceeds the limit of 200000"), "\(e)")
        }
        XCTAssertNoThrow(try PlanReader.read(FileBytes(bytes: try PlanWriter.serialize(Fixture.plan()), name: "ok.segc")))
    }

    func testBadPlansWrittenUnverifiedAreRefused() throws {
        func refusedUnverified(_ edit: (inout PlanFile) -> Void, _ expect: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
            var p = Fixture.plan()
            edit(&p)
            // The writer refuses it…
            XCTAssertThrowsError(try PlanWriter.serialize(p), file: file, line: line)
            // …and so does the reader, though every checksum is right.
            let b = try PlanWriter.serialize(p, extraSections: [], verify: false)
            guard let e = refusal(b, file: file, line: line) else { return }
            XCTAssertTrue(e.description.contains(expect), "\(e.description) lacks '\(expect)'", file: file, line: line)
            XCTAssertEqual(e.file, "t.segc", file: file, line: line)
        }
        let wghtCount = Fixture.plan().weights.count
        try refusedUnverified({ $0.graph.ops[0].weights[0].offset = Fixture.align(wghtCount) + 64 }, "lie outside WGHT")
        try refusedUnverified({ $0.graph.ops[8].weights[1].offset = Fixture.align(wghtCount) }, "lie outside WGHT")
        try refusedUnverified({ $0.graph.ops[0].weights[1].offset += 4 }, "not a multiple of 64")
        try refusedUnverified({ $0.graph.ops[0].weights[0].shape = [4, 3, 3, 2] }, "does not match kernel")
        try refusedUnverified({ $0.graph.values[9].shape = [1, 6, 4, 4] }, "op 7")
        try refusedUnverified({ $0.graph.values[3].dtype = .f32 }, "op 1")
        try refusedUnverified({ $0.graph.ops[3].inputs = [4, 6] }, "used before it is defined")
        try refusedUnverified({ $0.graph.ops[3].outputs = [4] }, "defined twice")
        try refusedUnverified({ $0.graph.ops[0].ints.append(0) }, "int attributes")
        try refusedUnverified({ $0.graph.ops[0].ints[12] = 3 }, "activation = 3")
        try refusedUnverified({ $0.graph.ops[1].ints[2] = 0 }, "stride h = 0")
        try refusedUnverified({ $0.graph.ops[9].floats = [.nan] }, "NaN")
        try refusedUnverified({ $0.graph.ops[5].ints[0] = 2 }, "mode = 2")
        try refusedUnverified({ $0.graph.ops[6].ints[0] = 4 }, "axis")
        try refusedUnverified({ $0.graph.values[14].arenaOffset += 8 }, "arena offset")
        try refusedUnverified({ $0.graph.arenaBytes -= 64 }, "exceeds the arena")
        try refusedUnverified({ $0.metadata.outputShape = [1, 6, 6, 7] }, "section META")
        try refusedUnverified({ $0.metadata.classes = 5; $0.metadata.classNames = [] }, "5 classes")
        try refusedUnverified({ $0.sourceMap.removeLast() }, "section SRCM")
        try refusedUnverified({ $0.graph.ops.removeLast(); $0.sourceMap.removeLast() }, "value 14 is never defined")
        try refusedUnverified({ $0.metadata.precision = "fp16" }, "precision")
    }

    func testFrameEdits() throws {
        let valid = try PlanWriter.serialize(Fixture.plan())
        func refusedAfter(_ edit: (inout [UInt8]) -> Void, _ expect: String, headerOnly: Bool = false,
                          file: StaticString = #filePath, line: UInt = #line) {
            var b = valid
            edit(&b)
            if headerOnly { Fixture.put(&b, 60, PlanChecksum.crc32c(Array(b[0..<60]))) } else { Fixture.reseal(&b) }
            guard let e = refusal(b, file: file, line: line) else { return }
            XCTAssertTrue(e.description.contains(expect), "\(e.description) lacks '\(expect)'", file: file, line: line)
        }
        // A padding byte after a section that does not end on a 64-byte boundary.
        let gap = try XCTUnwrap(["META", "GRPH", "WGHT"].compactMap { tag -> Int? in
            guard let (o, l) = Fixture.section(valid, tag), (o + l) % 64 != 0 else { return nil }
            return o + l
        }.first)
        refusedAfter({ $0[gap] = 7 }, "padding byte is not zero")
        // META marked optional.
        refusedAfter({ $0[64 + 4] = 0 }, "must be required")
        // Unknown section flag bits.
        refusedAfter({ $0[64 + 32 + 4] |= 2 }, "unknown flags")
        // GRPH tag renamed (to an unknown required tag).
        refusedAfter({ $0[64 + 32] = UInt8(ascii: "Q") }, "required section GRPH is missing")
        // Misplaced section offset.
        refusedAfter({ Fixture.put(&$0, 64 + 32 + 8, Fixture.le($0, 64 + 32 + 8, UInt64.self) + 64) }, "offset")
        // Absurd section count.
        refusedAfter({ Fixture.put(&$0, 24, UInt32(100_000)) }, "exceeds the limit", headerOnly: true)
        refusedAfter({ Fixture.put(&$0, 24, UInt32(200)) }, "runs past the end of the file", headerOnly: true)
        refusedAfter({ Fixture.put(&$0, 24, UInt32(3)) }, "section table checksum mismatch", headerOnly: true)
        // Reserved header bytes.
        refusedAfter({ $0[50] = 1 }, "reserved")
        // Unknown op code in GRPH.
        refusedAfter({ b in
            let (go, _) = Fixture.section(b, "GRPH")!
            let firstOp = go + 32 + 15 * (16 + 32)
            Fixture.put(&b, firstOp, UInt16(999))
        }, "unknown op code 999")
        // Bad META JSON.
        refusedAfter({ b in
            let (mo, _) = Fixture.section(b, "META")!
            b[mo] = UInt8(ascii: "[")
        }, "section META")
    }

    func testEmptyWeightsPlan() throws {
        var m = PlanMetadata()
        m.inputShape = [1, 2, 3, 3]; m.outputShape = [1, 2, 3, 3]
        m.mean = [0, 0]; m.std = [1, 1]  // one per input channel
        let g = PlanGraph(values: [PlanValue(dtype: .f32, shape: [1, 2, 3, 3], arenaOffset: 0),
                                   PlanValue(dtype: .f32, shape: [1, 2, 3, 3], arenaOffset: 128)],
                          ops: [PlanOp(kind: .relu, inputs: [0], outputs: [1])], input: 0, output: 1, arenaBytes: 200)
        let p = PlanFile(metadata: m, graph: g, weights: PlanWeights(owned: []), sourceMap: [])
        let b = try PlanWriter.serialize(p)
        XCTAssertEqual(try read(b), p)
    }
}
