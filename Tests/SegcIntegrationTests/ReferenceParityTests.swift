import XCTest
import SegcCore
import SegcIR
import SegcTorch
import SegcReference
import SegcPasses

/// Issue 2, acceptance 1–2 (interpreter side): every manifest checkpoint, built
/// at 128x256 and run by the reference interpreter, reproduces PyTorch's logits
/// within 1e-4 × max(1, max|ref|) — before and after the optimisation pipeline.
final class ReferenceParityTests: XCTestCase {
    func testEveryManifestModelMatchesPyTorch() throws {
        for e in try Shared.manifest() {
            let ckpt = try TorchCheckpoint.load(path: try Shared.path(e.checkpoint))
            let built = try NetworkBuilder.build(file: e.checkpoint, entries: ckpt.tensors.map { ($0.key, $0.tensor) },
                                                 arch: Architecture(argument: e.arch), height: 128, width: 256)
            XCTAssertEqual(built.classes, e.classes, e.name)
            let input = try Npy.read(contentsOf: try Shared.path(e.input)).floats
            let ref = try Npy.read(contentsOf: try Shared.path(e.output)).floats
            let tol = Float(1e-4 * max(1, e.maxAbs))

            var graph = built.graph
            _ = try Pipeline.run(Pipeline.legalise, on: &graph)
            let plain = try ReferenceInterpreter.run(graph, inputs: [input])[0]
            let (d0, i0) = maxAbsDiff(plain, ref)
            print("[parity] \(e.name) reference interpreter, unoptimised: max|diff| = \(d0) (tolerance \(tol))")
            XCTAssertLessThanOrEqual(d0, tol, "\(e.name): unoptimised graph differs at \(i0)")

            _ = try Pipeline.run(Pipeline.optimise, on: &graph)
            let opt = try ReferenceInterpreter.run(graph, inputs: [input])[0]
            let (d1, i1) = maxAbsDiff(opt, ref)
            print("[parity] \(e.name) reference interpreter, optimised: max|diff| = \(d1) (tolerance \(tol)); ops \(built.graph.nodes.count) -> \(graph.nodes.count)")
            XCTAssertLessThanOrEqual(d1, tol, "\(e.name): optimised graph differs at \(i1)")
        }
    }
}
