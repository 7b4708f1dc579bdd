import XCTest
import SegcCore
import SegcRuntime

/// The session's conv + add + activation fusion (`ConvTailFusion`) changes no bit: for
/// every manifest network at 128x256 and every kernel level, the fused program (no
/// observer) and the op-by-op program (with an observer) give identical logits. ENet's
/// bottlenecks are where it applies; a plan whose layout changes must not silently lose it.
final class ConvTailFusionTests: XCTestCase {
    func testFusedAndUnfusedProgramsAreBitIdentical() throws {
        defer { try? KernelLevel.force(KernelLevel.best) }
        for e in try Shared.manifest() {
            let c = try compile(e, height: 128, width: 256)
            let input = try Npy.read(contentsOf: try Shared.path(e.input)).floats
            let fused = c.model.convTails.count
            print("[tail] \(e.name): \(fused) conv + add + activation triples fused")
            if e.name.hasPrefix("enet") { XCTAssertGreaterThanOrEqual(fused, 20, "\(e.name): fusion no longer applies") }
            for level in KernelLevel.available {
                try KernelLevel.force(level)
                let session = try SegcSession(model: c.model, threads: 2)
                let fast = try session.run(input)
                session.observer = { _, _ in }
                let slow = try session.run(input)
                XCTAssertTrue(fast.elementsEqual(slow) { $0.bitPattern == $1.bitPattern }, "\(e.name) \(level): fused and op-by-op differ")
            }
        }
    }
}
