import XCTest
import CZip
import SegcCore
import SegcReference
import SegcPlan
import SegcRuntime

/// Issue 2, acceptance 1 (full size): at the paper's 512x1024, on a real
/// Cityscapes frame (`inputs/city1_512x1024.npy` = frankfurt_000000_000294),
/// segc's argmax agrees with PyTorch's on ≥ 99.9 % of pixels. The PyTorch
/// argmax maps come from `Fixtures/torch_reference_512.py`
/// (`Fixtures/expected/argmax_512x1024.zip`). The reference interpreter is
/// checked against the runtime on the same frame with the logit tolerance.
final class FullSizeArgmaxTests: XCTestCase {
    func expectedArgmax(_ name: String) throws -> [UInt8] {
        let zipPath = Shared.packageRoot.appendingPathComponent("Fixtures/expected/argmax_512x1024.zip").path
        var err: Int32 = 0
        guard let z = zip_open(zipPath, ZIP_RDONLY, &err) else { throw XCTSkip("cannot open \(zipPath)") }
        defer { zip_close(z) }
        var st = zip_stat_t()
        zip_stat_init(&st)
        guard zip_stat(z, "\(name).npy", 0, &st) == 0, let f = zip_fopen(z, "\(name).npy", 0) else {
            XCTFail("no \(name).npy in the fixture"); return []
        }
        defer { zip_fclose(f) }
        var bytes = [UInt8](repeating: 0, count: Int(st.size))
        let n = bytes.withUnsafeMutableBytes { zip_fread(f, $0.baseAddress, st.size) }
        XCTAssertEqual(Int(n), bytes.count)
        let arr = try Npy.decode(UnsafeRawBufferPointer(start: bytes, count: bytes.count), name: name)
        XCTAssertEqual(arr.shape, [512, 1024])
        return (arr.int64s ?? []).map { UInt8(truncatingIfNeeded: $0) }
    }

    /// Issue 13: the same at every kernel level the CPU has (scalar and avx2 on any
    /// AVX2 machine, avx512 where present): argmax against PyTorch, logits within
    /// 1e-4·max|ref| of the reference interpreter and of the other levels, and the plan's
    /// convolutions upstream of index-returning pools lowered as `exact`.
    func testArgmaxAgreesWithPyTorchAt512x1024() throws {
        defer { try? KernelLevel.force(KernelLevel.best) }
        let input = try Npy.read(contentsOf: try Shared.path("inputs/city1_512x1024.npy")).floats
        let checkInterpreter = ProcessInfo.processInfo.environment["SEGC_SKIP_SLOW"] == nil
        for e in try Shared.manifest() {
            let c = try compile(e, height: 512, width: 1024)
            for i in c.plan.graph.opsFeedingIndexPools where [.conv2d, .convTranspose2d].contains(c.plan.graph.ops[i].kind) {
                XCTAssertEqual(c.plan.graph.ops[i].algorithm, .exact, "\(e.name): op \(i) feeds an index pool but is not exact")
            }
            let theirs = try expectedArgmax(e.name)
            var interp: [Float]? = nil
            if checkInterpreter && e.name != "enet_legacy" {  // identical tensors to `enet`
                interp = try ReferenceInterpreter.run(c.graph, inputs: [input])[0]
            }
            var first: (KernelLevel, [Float])? = nil
            for level in KernelLevel.available {
                try KernelLevel.force(level)
                let out = try SegcSession(model: c.model, threads: 2).run(input)
                let mine = argmax(out, classes: e.classes)
                let agree = zip(mine, theirs).filter { $0 == $1 }.count
                let fraction = Double(agree) / Double(theirs.count)
                print("[fullsize] \(e.name) \(level): argmax agreement with PyTorch \(String(format: "%.5f", fraction * 100)) % (\(theirs.count - agree) of \(theirs.count) pixels differ)")
                XCTAssertGreaterThanOrEqual(fraction, 0.999, "\(e.name) \(level)")
                if let interp {
                    var maxAbs: Float = 0
                    for v in interp { maxAbs = max(maxAbs, abs(v)) }
                    let tol = 1e-4 * max(1, maxAbs)
                    let (d, at) = maxAbsDiff(out, interp)
                    print("[fullsize] \(e.name) \(level): runtime vs reference interpreter max|diff| = \(d) (tolerance \(tol))")
                    XCTAssertLessThanOrEqual(d, tol, "\(e.name) \(level) differs at \(at)")
                    if let (l0, o0) = first {
                        let (dl, atl) = maxAbsDiff(out, o0)
                        print("[fullsize] \(e.name) \(level) vs \(l0): max|diff| = \(dl)")
                        XCTAssertLessThanOrEqual(dl, tol, "\(e.name) \(level) vs \(l0) differs at \(atl)")
                    }
                }
                if first == nil { first = (level, out) }
            }
        }
    }
}
