import XCTest
import SegcCore
import SegcIR
import SegcLower
import SegcPlan
import SegcReference

/// Plan → IR lifting (the base of `quantize` and `prune`): for every manifest network,
/// lowering the lifted graph gives the same plan bytes, and the lifted graph computes the
/// same logits in the reference interpreter.
final class LiftingTests: XCTestCase {
    func testLiftThenLowerReproducesEveryPlanExactly() throws {
        for e in try Shared.manifest() {
            let c = try compile(e, height: 64, width: 128)
            let lifted = try Lifting.lift(c.plan)
            let again = try Lowering.lower(lifted, metadata: c.plan.metadata)
            let original = try PlanWriter.serialize(try Lowering.lower(c.graph, metadata: c.plan.metadata))
            XCTAssertEqual(try PlanWriter.serialize(again), original, "\(e.name): lift + lower changed the plan")
            var r: UInt64 = 7
            let input = (0..<(3 * 64 * 128)).map { _ -> Float in r = r &* 6364136223846793005 &+ 1; return Float(r >> 40) / Float(1 << 24) }
            let a = try ReferenceInterpreter.run(c.graph, inputs: [input])[0]
            let b = try ReferenceInterpreter.run(lifted, inputs: [input])[0]
            XCTAssertEqual(a, b, "\(e.name): lifted graph computes different logits")
        }
    }

    func testCorruptPlanIsRefusedNotTrapped() throws {
        let e = try Shared.manifest()[0]
        let c = try compile(e, height: 64, width: 128)
        var plan = c.plan
        plan.graph.ops[0].ints = [1]
        XCTAssertThrowsError(try Lifting.lift(plan))
    }
}
