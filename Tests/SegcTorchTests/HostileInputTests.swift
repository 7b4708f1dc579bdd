import XCTest
import CZip
import SegcCore
import SegcIR
import SegcTorch

/// Builds a zip in memory with libzip (stored entries, in the given order).
func makeZip(_ entries: [(String, [UInt8])], deflate: Set<String> = []) throws -> [UInt8] {
    let path = NSTemporaryDirectory() + "segc-torch-test-\(UInt64.random(in: 0...UInt64.max)).zip"
    defer { try? FileManager.default.removeItem(atPath: path) }
    var err: Int32 = 0
    guard let za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err) else { throw XCTSkip("libzip cannot create \(path)") }
    for (name, data) in entries {
        let p = malloc(max(data.count, 1))!
        data.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: data.count) } }
        guard let src = zip_source_buffer(za, p, zip_uint64_t(data.count), 1) else { free(p); throw XCTSkip("zip_source_buffer") }
        let idx = zip_file_add(za, name, src, zip_flags_t(ZIP_FL_ENC_UTF_8))
        if idx < 0 { zip_source_free(src); throw XCTSkip("zip_file_add \(name)") }
        zip_set_file_compression(za, zip_uint64_t(idx), deflate.contains(name) ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 9)
    }
    if zip_close(za) != 0 { throw XCTSkip("zip_close failed") }
    return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// A torch-like zip container around `pickle`.
func torchZip(_ pickle: [UInt8], storages: [(String, [UInt8])] = [], byteorder: String? = "little",
              extra: [(String, [UInt8])] = [], deflate: Set<String> = []) throws -> FileBytes {
    var entries: [(String, [UInt8])] = [("archive/data.pkl", pickle)]
    if let byteorder { entries.append(("archive/byteorder", Array(byteorder.utf8))) }
    for (k, d) in storages { entries.append(("archive/data/\(k)", d)) }
    entries.append(("archive/version", Array("3\n".utf8)))
    entries += extra
    return FileBytes(bytes: try makeZip(entries, deflate: deflate), name: "evil.pth")
}

func floatBytes(_ v: [Float], bigEndian: Bool = false) -> [UInt8] {
    var out: [UInt8] = []
    for f in v {
        let u = f.bitPattern
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: u >> (8 * (bigEndian ? 3 - i : i)))) }
    }
    return out
}

/// Deterministic SplitMix64.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class AllowlistTests: XCTestCase {
    func globalPickle(_ module: String, _ name: String) -> [UInt8] {
        var p = PickleWriter()
        p.global(module, name)       // at byte 2
        p.str("echo pwned"); p.op(0x85); p.op("R"); p.stop()
        return p.b
    }

    func testRefusedGlobalsInZip() throws {
        let cases: [(String, String, String)] = [
            ("os", "system", "os.system"),
            ("builtins", "eval", "builtins.eval"),
            ("__builtin__", "eval", "builtins.eval"),
            ("subprocess", "Popen", "subprocess.Popen"),
            ("posix", "system", "posix.system"),
            ("torch.storage", "_load_from_bytes", "torch.storage._load_from_bytes"),
            ("torch._utils", "_rebuild_tensor_v3", "torch._utils._rebuild_tensor_v3"),
            ("argparse", "Namespace", "argparse.Namespace"),
        ]
        for (m, n, shown) in cases {
            let fb = try torchZip(globalPickle(m, n))
            let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(fb) })
            XCTAssertEqual(e.kind, .refused, shown)
            XCTAssertEqual(e.description, "evil.pth: data.pkl at byte 2: global '\(shown)' is not allowed (see product.md §2.4)")
        }
    }

    func testPickledModuleClassSuggestsStateDict() throws {
        for (m, n) in [("__main__", "ERFNet"), ("mymodels.erfnet", "ERFNet"), ("torch.nn.modules.conv", "Conv2d")] {
            var p = PickleWriter()
            p.global(m, n); p.op(")"); p.op(0x81); p.stop() // NEWOBJ, as torch.save(model) does
            let fb = try torchZip(p.b)
            let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(fb) })
            XCTAssertEqual(e.kind, .refused)
            XCTAssertTrue(e.description.contains("global '\(m).\(n)' is not allowed"), e.description)
            XCTAssertTrue(e.description.contains("model.state_dict()"), e.description)
            XCTAssertTrue(e.description.contains("ONNX"), e.description)
        }
    }

    func testRefusedGlobalViaStackGlobalAndInLegacy() throws {
        // protocol 4: SHORT_BINUNICODE 'os', SHORT_BINUNICODE 'system', STACK_GLOBAL (at byte 14)
        var b: [UInt8] = [0x80, 0x04, 0x8c, 0x02] + Array("os".utf8) + [0x8c, 0x06] + Array("system".utf8) + [0x93]
        b += [0x29, 0x52, 0x2e]
        let e1 = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(b)) })
        XCTAssertEqual(e1.kind, .refused)
        XCTAssertEqual(e1.location, .recordOffset("data.pkl", 14))
        XCTAssertTrue(e1.message.contains("'os.system'"))

        let legacy = legacyContainer(object: globalPickle("builtins", "eval"))
        let objectStart = legacy.count - globalPickle("builtins", "eval").count - 6 // minus the key-list pickle
        let e2 = try XCTUnwrap(expectError { () throws(SegcError) in
            _ = try TorchCheckpoint.load(FileBytes(bytes: legacy, name: "evil.pth"))
        })
        XCTAssertEqual(e2.kind, .refused)
        XCTAssertEqual(e2.file, "evil.pth")
        XCTAssertEqual(e2.location, .offset(objectStart + 2))
        XCTAssertTrue(e2.message.contains("global 'builtins.eval' is not allowed"), e2.message)
    }

    func testRefusedOpcodesAreNamed() throws {
        let cases: [([UInt8], String)] = [
            ([0x69] + Array("os\nsystem\n".utf8) + [0x2e], "INST"),
            ([0x82, 0x01, 0x2e], "EXT1"),
            ([0x83, 0x01, 0x00, 0x2e], "EXT2"),
            ([0x28, 0x6f, 0x2e], "OBJ"),   // MARK at 2, OBJ at 3
            ([0x49] + Array("1\n".utf8) + [0x2e], "INT"),
            ([0x4e, 0x70] + Array("0\n".utf8) + [0x2e], "PUT"),
            ([0x50] + Array("0\n".utf8) + [0x2e], "PERSID"),
            ([0x97, 0x2e], "NEXT_BUFFER"),
        ]
        for (body, name) in cases {
            let fb = try torchZip([0x80, 0x02] + body)
            let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(fb) })
            XCTAssertEqual(e.kind, .refused, name)
            XCTAssertTrue(e.message.contains("opcode \(name) "), e.message)
            let at = name == "OBJ" ? 3 : (name == "PUT" ? 3 : 2)
            XCTAssertEqual(e.location, .recordOffset("data.pkl", at), name)
        }
        let unknown = try torchZip([0x80, 0x02, 0xff, 0x2e])
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(unknown) })
        XCTAssertTrue(e.message.contains("0xff"), e.message)
    }

    func testUnsupportedProtocol() throws {
        let fb = try torchZip([0x80, 0x01, 0x4e, 0x2e])
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(fb) })
        XCTAssertEqual(e.kind, .unsupported)
    }
}

final class LimitTests: XCTestCase {
    func testDeepListNestingIsALimit() throws {
        var p = PickleWriter()
        for _ in 0..<300 { p.op("]") }
        for _ in 0..<299 { p.op("a") }
        p.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(p.b)) })
        XCTAssertEqual(e.kind, .limit)
        XCTAssertTrue(e.message.contains("nesting"), e.message)
    }

    func testDeepTupleNestingIsALimit() throws {
        var p = PickleWriter()
        p.op("N")
        for _ in 0..<1000 { p.op(0x85) }
        p.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(p.b)) })
        XCTAssertEqual(e.kind, .limit)
    }

    func testMarkDepthIsALimit() throws {
        var p = PickleWriter()
        for _ in 0..<2000 { p.mark() }
        p.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(p.b)) })
        XCTAssertEqual(e.kind, .limit)
        XCTAssertTrue(e.message.contains("mark"), e.message)
    }

    func testRankAboveEightIsALimit() throws {
        var p = PickleWriter()
        p.emptyOrderedDict(); p.str("w")
        p.tensor(cls: "FloatStorage", key: "0", numel: 1, offset: 0, size: [Int32](repeating: 1, count: 9), stride: [Int32](repeating: 1, count: 9))
        p.op("s"); p.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in
            _ = try TorchCheckpoint.load(try! torchZip(p.b, storages: [("0", floatBytes([1]))]))
        })
        XCTAssertEqual(e.kind, .limit)
    }

    func testHugeStorageIsALimitNotAnAllocation() throws {
        var p = PickleWriter()
        p.emptyOrderedDict(); p.str("w")
        p.tensor(cls: "DoubleStorage", key: "0", numel: Int32.max, offset: 0, size: [4], stride: [1])
        p.op("s"); p.stop()
        // 2^31 doubles = 16 GiB > 4 GiB
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(p.b)) })
        XCTAssertEqual(e.kind, .limit)
    }
}

final class SyntheticContainerTests: XCTestCase {
    /// OrderedDict of views over storage '0' (6 floats) and a half storage '1'.
    func viewsPickle() -> [UInt8] {
        var p = PickleWriter()
        p.emptyOrderedDict()
        p.mark()
        p.str("t"); p.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 0, size: [2, 3], stride: [1, 2]) // transposed
        p.str("z"); p.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 1, size: [3], stride: [0])       // zero stride
        p.str("e"); p.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 6, size: [0, 4], stride: [4, 1]) // zero size
        p.str("s"); p.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 5, size: [], stride: [])         // 0-d
        p.str("h"); p.tensor(cls: "HalfStorage", key: "1", numel: 4, offset: 0, size: [4], stride: [1])
        p.str("epoch_like"); p.int(7)                                                                        // non-tensor entry
        p.op("u")
        p.stop()
        return p.b
    }

    func check(_ ck: TorchCheckpoint) {
        XCTAssertEqual(ck.tensors.map(\.key), ["t", "z", "e", "s", "h"])
        XCTAssertEqual(ck.tensor("t"), Tensor(dtype: .f32, shape: [2, 3], storage: .f32([0, 2, 4, 1, 3, 5])))
        XCTAssertEqual(ck.tensor("z"), Tensor(dtype: .f32, shape: [3], storage: .f32([1, 1, 1])))
        XCTAssertEqual(ck.tensor("e"), Tensor(dtype: .f32, shape: [0, 4], storage: .f32([])))
        XCTAssertEqual(ck.tensor("s"), Tensor(dtype: .f32, shape: [], storage: .f32([5])))
        XCTAssertEqual(ck.tensor("h"), Tensor(dtype: .f32, shape: [4], storage: .f32([1, -2, 0x1p-24, 65504])))
        XCTAssertEqual(ck.torchDTypes["h"], "float16")
    }

    func testViewsLittleAndBigEndian() throws {
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7BFF]
        let le = half.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
        let be = half.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
        check(try TorchCheckpoint.load(try torchZip(viewsPickle(), storages: [("0", floatBytes([0, 1, 2, 3, 4, 5])), ("1", le)])))
        check(try TorchCheckpoint.load(try torchZip(viewsPickle(), storages: [("0", floatBytes([0, 1, 2, 3, 4, 5], bigEndian: true)), ("1", be)],
                                                    byteorder: "big")))
        check(try TorchCheckpoint.load(try torchZip(viewsPickle(), storages: [("0", floatBytes([0, 1, 2, 3, 4, 5])), ("1", le)], byteorder: nil)))
        let bad = try torchZip(viewsPickle(), storages: [("0", floatBytes([0, 1, 2, 3, 4, 5])), ("1", le)], byteorder: "middle")
        XCTAssertEqual(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(bad) }?.kind, .malformed)
    }

    func testDeflatedEntriesAndZipBomb() throws {
        let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xFF, 0x7B]
        let storages = [("0", floatBytes([0, 1, 2, 3, 4, 5])), ("1", half)]
        check(try TorchCheckpoint.load(try torchZip(viewsPickle(), storages: storages,
                                                    deflate: ["archive/data.pkl", "archive/data/0", "archive/version"])))
        // 8 MiB of zeros deflates far beyond 200:1.
        let bomb = try torchZip(viewsPickle(), storages: storages + [("9", [UInt8](repeating: 0, count: 8 << 20))],
                                deflate: ["archive/data/9"])
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(bomb) })
        XCTAssertEqual(e.kind, .limit)
        XCTAssertEqual(e.location, .record("archive/data/9"))
    }

    func testViewOutOfBoundsAndMissingRecord() throws {
        var p = PickleWriter()
        p.emptyOrderedDict(); p.str("w")
        p.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 1, size: [2, 3], stride: [3, 1]) // last element 6 ≥ 6
        p.op("s"); p.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in
            _ = try TorchCheckpoint.load(try! torchZip(p.b, storages: [("0", floatBytes([0, 1, 2, 3, 4, 5]))]))
        })
        XCTAssertEqual(e.kind, .malformed)
        XCTAssertEqual(e.file, "evil.pth")

        var q = PickleWriter()
        q.emptyOrderedDict(); q.str("w")
        q.tensor(cls: "FloatStorage", key: "0", numel: 6, offset: 0, size: [6], stride: [1])
        q.op("s"); q.stop()
        let m = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(q.b)) })
        XCTAssertEqual(m.location, .record("archive/data/0"))
        let short = try XCTUnwrap(expectError { () throws(SegcError) in
            _ = try TorchCheckpoint.load(try! torchZip(q.b, storages: [("0", floatBytes([0, 1, 2]))]))
        })
        XCTAssertEqual(short.location, .record("archive/data/0"))
    }

    func testTorchScriptAndForeignEntriesRefused() throws {
        var p = PickleWriter(); p.op("}"); p.stop()
        let ts = try torchZip(p.b, extra: [("archive/constants.pkl", p.b), ("archive/code/__torch__/m.py", [])])
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(ts) })
        XCTAssertEqual(e.kind, .refused)
        XCTAssertTrue(e.message.contains("TorchScript"), e.message)
        XCTAssertTrue(e.message.contains("state_dict") && e.message.contains("ONNX"), e.message)

        let outside = try torchZip(p.b, extra: [("elsewhere/evil", [1, 2, 3])])
        let o = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(outside) })
        XCTAssertEqual(o.kind, .refused)
        XCTAssertEqual(o.location, .record("elsewhere/evil"))

        let noVersion = FileBytes(bytes: try makeZip([("archive/data.pkl", p.b)]), name: "x.pth")
        XCTAssertEqual(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(noVersion) }?.kind, .malformed)
    }

    func testLegacyWrapperPrefixAndErrors() throws {
        // {'epoch': 3, 'model': {'state_dict': OrderedDict({'_orig_mod.a': t, '_orig_mod.b': t2})}}
        var p = PickleWriter()
        p.op("}"); p.mark()
        p.str("epoch"); p.int(3)
        p.str("model"); p.op("}"); p.str("state_dict"); p.emptyOrderedDict(); p.mark()
        p.str("_orig_mod.a"); p.tensor(cls: "LongStorage", key: "140001", numel: 3, offset: 0, size: [3], stride: [1], legacy: true)
        p.op("q"); p.op(0x05) // BINPUT 5 the tensor
        p.str("_orig_mod.b"); p.op("h"); p.op(0x05) // shared tensor via memo
        p.op("u"); p.op("s")
        p.op("u"); p.stop()
        var data: [UInt8] = []
        for v: Int64 in [7, -1, 1 << 40] { for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * i))) } }
        let bytes = legacyContainer(object: p.b, storages: [("140001", 3, data)])
        let ck = try TorchCheckpoint.load(FileBytes(bytes: bytes, name: "ck.pth"))
        XCTAssertEqual(ck.format, "pth-legacy")
        XCTAssertEqual(ck.wrapper, "model.state_dict")
        XCTAssertEqual(ck.strippedPrefix, "_orig_mod.")
        XCTAssertEqual(ck.tensors.map(\.key), ["a", "b"])
        XCTAssertEqual(ck.tensor("b")?.storage, .i64([7, -1, 1 << 40]))

        // trailing bytes
        let trailing = FileBytes(bytes: bytes + [0], name: "ck.pth")
        let t = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(trailing) })
        XCTAssertEqual(t.location, .offset(bytes.count))
        // wrong element count
        let wrong = legacyContainer(object: p.b, storages: [("140001", 2, Array(data.prefix(16)))])
        XCTAssertEqual(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: wrong, name: "ck.pth")) }?.kind, .malformed)
        // key list not matching
        let missing = legacyContainer(object: p.b, storages: [])
        XCTAssertEqual(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: missing, name: "ck.pth")) }?.kind, .malformed)
    }

    /// A training checkpoint: the other entries use the rest of the allowlist and must unpickle.
    func testTrainingCheckpointExtras() throws {
        var q = PickleWriter()
        q.op("}"); q.mark()
        q.str("epoch"); q.int(12)
        q.str("best_miou")
        q.global("numpy.core.multiarray", "scalar")
        q.mark()
        q.global("numpy", "dtype"); q.mark(); q.str("f8"); q.op(0x89); q.op(0x88); q.tuple(); q.op("R")
        q.mark(); q.int(3); q.str("<"); q.op("N"); q.op("N"); q.op("N"); q.int(-1); q.int(-1); q.int(0); q.tuple(); q.op("b")
        q.global("_codecs", "encode"); q.mark(); q.str("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{e0}?"); q.str("latin1"); q.tuple(); q.op("R")
        q.tuple(); q.op("R")
        q.str("tags"); q.global("builtins", "set"); q.mark(); q.op("]"); q.str("a"); q.op("a"); q.tuple(); q.op("R")
        q.str("frozen"); q.op(0x8f); q.mark(); q.int(1); q.int(2); q.op(0x90)
        q.str("blob"); q.global("__builtin__", "bytes"); q.op(")"); q.op("R")
        q.str("device"); q.global("torch", "device"); q.mark(); q.str("cuda"); q.int(0); q.tuple(); q.op("R")
        q.str("size"); q.global("torch", "Size"); q.mark(); q.ints([1, 2]); q.tuple(); q.op("R")
        q.str("state_dict"); q.emptyOrderedDict(); q.mark()
        q.str("module.w")
        q.global("torch._tensor", "_rebuild_from_type_v2")
        q.mark()
        q.global("torch._utils", "_rebuild_parameter"); q.global("torch.nn.parameter", "Parameter")
        q.mark(); q.tensor(cls: "BFloat16Storage", key: "1", numel: 2, offset: 0, size: [2], stride: [1], legacy: true)
        q.op(0x88); q.emptyOrderedDict(); q.tuple()
        q.op("}")
        q.tuple(); q.op("R")
        q.op("u") // end of state_dict items
        q.op("u") // end of top-level items
        q.stop()
        let data: [UInt8] = [0x80, 0x3F, 0x00, 0xC0] // bfloat16 1.0, -2.0
        let ck = try TorchCheckpoint.load(FileBytes(bytes: legacyContainer(object: q.b, storages: [("1", 2, data)]), name: "train.pth"))
        XCTAssertEqual(ck.wrapper, "state_dict")
        XCTAssertEqual(ck.strippedPrefix, "module.")
        XCTAssertEqual(ck.tensor("w"), Tensor(dtype: .f32, shape: [2], storage: .f32([1, -2])))
        XCTAssertEqual(ck.torchDTypes["w"], "bfloat16")

        // The same with a disallowed type argument is refused.
        var bad = PickleWriter()
        bad.global("torch._tensor", "_rebuild_from_type_v2")
        bad.mark(); bad.global("torch._utils", "_rebuild_parameter"); bad.global("torch._utils", "_rebuild_tensor"); bad.op(")"); bad.op("N"); bad.tuple()
        bad.op("R"); bad.stop()
        let e = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(try! torchZip(bad.b)) })
        XCTAssertEqual(e.kind, .refused)
    }

    func testQuantizedPerTensorSynthetic() throws {
        var p = PickleWriter()
        p.emptyOrderedDict(); p.str("q")
        p.global("torch._utils", "_rebuild_qtensor")
        p.mark()
        p.mark(); p.str("storage"); p.global("torch", "QUInt8Storage"); p.str("0"); p.str("cpu"); p.int(4); p.tuple(); p.op("Q")
        p.int(0); p.ints([2, 2]); p.ints([2, 1])
        p.mark(); p.global("torch", "per_tensor_affine"); p.op("G"); p.b += [0x3f, 0xe0, 0, 0, 0, 0, 0, 0]; p.int(128); p.tuple()
        p.op(0x89); p.emptyOrderedDict()
        p.tuple(); p.op("R")
        p.op("s"); p.stop()
        let ck = try TorchCheckpoint.load(try torchZip(p.b, storages: [("0", [128, 130, 126, 0])]))
        let t = try XCTUnwrap(ck.tensor("q"))
        XCTAssertEqual(t.dtype, .qu8)
        XCTAssertEqual(t.quant, QuantParams(scales: [0.5], zeroPoints: [128], axis: nil))
        XCTAssertEqual(t.floats(), [0, 1, -1, -64])
        XCTAssertEqual(ck.torchDTypes["q"], "quint8")
    }

    /// A zero point outside the storage's range (PyTorch's own quantize refuses them) made
    /// dequantizing (q − zp in Int64) trap: Int64.min here. Refused at load, naming the key.
    func testQuantizedZeroPointOutsideItsTypeIsRefused() throws {
        for (cls, zp) in [("QUInt8Storage", Int64.min), ("QUInt8Storage", 256), ("QInt8Storage", -129)] {
            var p = PickleWriter()
            p.emptyOrderedDict(); p.str("q")
            p.global("torch._utils", "_rebuild_qtensor")
            p.mark()
            p.mark(); p.str("storage"); p.global("torch", cls); p.str("0"); p.str("cpu"); p.int(4); p.tuple(); p.op("Q")
            p.int(0); p.ints([2, 2]); p.ints([2, 1])
            p.mark(); p.global("torch", "per_tensor_affine"); p.op("G"); p.b += [0x3f, 0xe0, 0, 0, 0, 0, 0, 0]
            p.op(0x8a); p.b.append(8); p.b += (0..<8).map { UInt8(truncatingIfNeeded: zp >> (8 * $0)) }   // LONG1
            p.tuple()
            p.op(0x89); p.emptyOrderedDict()
            p.tuple(); p.op("R")
            p.op("s"); p.stop()
            let zip = try torchZip(p.b, storages: [("0", [1, 130, 126, 0])])
            let e = expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(zip).tensor("q")?.floats() }
            XCTAssertEqual(e?.kind, .malformed, "\(cls) zero point \(zp)")
            XCTAssertEqual(e?.location, .key("q"), "\(cls) zero point \(zp)")
        }
    }

    func testNotAPickleOrZip() throws {
        let e = try XCTUnwrap(expectError { () throws(SegcError) in
            _ = try TorchCheckpoint.load(FileBytes(bytes: Array("hello world".utf8), name: "x.txt"))
        })
        XCTAssertEqual(e.kind, .unsupported)
        XCTAssertEqual(e.file, "x.txt")
        let empty = try XCTUnwrap(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: [], name: "e")) })
        XCTAssertEqual(empty.file, "e")
    }
}

final class DamagedFileTests: XCTestCase {
    func testEveryTenPercentPrefixFails() throws {
        for name in ["midenet_distilled.pth", "enet_legacy_checkpoint.pth", "erfnet_fx_int8_state.pth"] {
            let all = try FileBytes(contentsOf: try modelPath(name)).toArray()
            for tenth in 0..<10 {
                let n = all.count * tenth / 10
                let e = expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: all[0..<n], name: name)) }
                XCTAssertNotNil(e, "\(name) prefix \(tenth * 10)%")
                XCTAssertEqual(e?.file, name)
            }
            // One byte short fails too.
            XCTAssertNotNil(expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: all.dropLast(), name: name)) })
        }
    }

    func testRandomBytesFail() {
        var rng = SplitMix(state: 42)
        let heads: [[UInt8]] = [[], [0x50, 0x4B, 0x03, 0x04], [0x80, 0x02], [0x80, 0x02, 0x8a, 0x0a], [0x80, 0x05]]
        for i in 0..<100 {
            var b = heads[i % heads.count]
            let n = Int(rng.next() % 4096)
            for _ in 0..<n { b.append(UInt8(truncatingIfNeeded: rng.next())) }
            let e = expectError { () throws(SegcError) in _ = try TorchCheckpoint.load(FileBytes(bytes: b, name: "rand")) }
            XCTAssertEqual(e?.file, "rand")
        }
    }

    /// Bit flips anywhere must give a SegcError or a successful load, never a
    /// crash; flips inside the CRC-protected zip entries must be detected.
    func testBitFlipsNeverCrash() throws {
        var rng = SplitMix(state: 7)
        var thrown = 0, loaded = 0, zipLoaded = 0
        let tmp = NSTemporaryDirectory() + "segc-torch-flip-\(UInt64.random(in: 0...UInt64.max)).pth"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for name in ["midenet_distilled.pth", "enet_legacy_checkpoint.pth"] {
            let original = try FileBytes(contentsOf: try modelPath(name)).toArray()
            // Concentrate half the flips in the first 64 KiB (headers and pickles).
            for i in 0..<150 {
                var b = original
                let range = i % 2 == 0 ? min(65_536, b.count) : b.count
                let pos = Int(rng.next() % UInt64(range))
                b[pos] ^= UInt8(1) << UInt8(rng.next() % 8)
                // Through a file: FileBytes(bytes:) copies byte by byte, slow in debug builds.
                try Data(b).write(to: URL(fileURLWithPath: tmp))
                let fb = try FileBytes(contentsOf: tmp, displayName: name)
                do throws(SegcError) {
                    _ = try TorchCheckpoint.load(fb)
                    loaded += 1
                    if name.hasPrefix("midenet") { zipLoaded += 1 }
                } catch {
                    XCTAssertEqual(error.file, name)
                    XCTAssertNotNil(error.location, error.description)
                    thrown += 1
                }
            }
        }
        // Legacy storages carry no checksum, so flips in their data load; zip entries are CRC-checked,
        // and only flips in unchecked zip fields (timestamps, attributes, alignment padding) load.
        XCTAssertLessThan(zipLoaded, 15)
        XCTAssertGreaterThan(thrown, 100)
        print("bit flips: \(thrown) refused, \(loaded) loaded (\(zipLoaded) of them zip)")
    }
}
