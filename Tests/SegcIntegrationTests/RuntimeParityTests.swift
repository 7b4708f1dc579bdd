import XCTest
import SegcCore
import SegcReference
import SegcRuntime

/// Issue 2, acceptance 1–2 (runtime side): the runtime reproduces PyTorch's
/// logits at 128x256 within 1e-4 × max(1, max|ref|) for every manifest entry,
/// and agrees with the reference interpreter within the same tolerance.
final class RuntimeParityTests: XCTestCase {
    func testRuntimeMatchesPyTorchAndInterpreterAt128x256() throws {
        for e in try Shared.manifest() {
            let c = try compile(e, height: 128, width: 256)
            let input = try Npy.read(contentsOf: try Shared.path(e.input)).floats
            let ref = try Npy.read(contentsOf: try Shared.path(e.output)).floats
            let tol = Float(1e-4 * max(1, e.maxAbs))
            for threads in [1, 2] {
                let session = try SegcSession(model: c.model, threads: threads)
                let out = try session.run(input)
                let (d, at) = maxAbsDiff(out, ref)
                print("[runtime] \(e.name) threads=\(threads): max|diff| vs PyTorch = \(d) (tolerance \(tol))")
                XCTAssertLessThanOrEqual(d, tol, "\(e.name) threads \(threads) differs at \(at)")
            }
            let interp = try ReferenceInterpreter.run(c.graph, inputs: [input])[0]
            let out = try SegcSession(model: c.model, threads: 2).run(input)
            let (d, at) = maxAbsDiff(out, interp)
            print("[runtime] \(e.name): max|diff| vs reference interpreter = \(d)")
            XCTAssertLessThanOrEqual(d, tol, "\(e.name) runtime vs interpreter differs at \(at)")
        }
    }
}
