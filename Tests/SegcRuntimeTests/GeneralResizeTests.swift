import XCTest
import SegcPlan
import SegcRuntime

/// Issue 17: the general resize form of a plan (ONNX Resize in full) runs, and hostile
/// parameters end in a clean error or a bounded result, never a crash.
final class GeneralResizeTests: XCTestCase {
    /// One resize op in the general form: ints mode coord nearest oh ow exclude antialias,
    /// floats scaleH scaleW a extrapolation roi(4).
    func plan(mode: Int64, coord: Int64, scale: Float, antialias: Int64 = 0, exclude: Int64 = 0,
              oh: Int = 3, ow: Int = 5) -> PlanFile {
        var b = PlanBuilder()
        let x = b.value([1, 2, 4, 6])
        let y = b.simple(.resize, [x], shape: [1, 2, oh, ow], ints: [mode, coord, 0, Int64(oh), Int64(ow), exclude, antialias],
                         floats: [scale, scale, -0.75, 0, 0, 0, 1, 1])
        return b.finish(input: x, output: y)
    }

    func testModesRunAndStayWithinTheInputRange() throws {
        let input = (0..<48).map { Float($0 % 7) }
        for mode: Int64 in 0...2 {
            for coord: Int64 in 0...5 {
                for antialias: Int64 in mode == 0 ? [0] : [0, 1] {
                    let s = try SegcSession(model: try SegcModel(plan: plan(mode: mode, coord: coord, scale: 0.7, antialias: antialias)), threads: 1)
                    let y = try s.run(input)
                    // Nearest/linear/antialiased outputs are convex combinations of the input.
                    if mode != 2 { XCTAssertTrue(y.allSatisfy { $0 >= -1e-4 && $0 <= 6.0001 }, "mode \(mode) coord \(coord): \(y)") }
                    XCTAssertTrue(y.allSatisfy(\.isFinite))
                }
            }
        }
    }

    func testHostileScalesDoNotCrash() throws {
        // A scale so small that x = y / scale overflows any integer: bounded, edge values.
        let s = try SegcSession(model: try SegcModel(plan: plan(mode: 0, coord: 3, scale: 1e-38)), threads: 1)
        let y = try s.run((0..<48).map(Float.init))
        XCTAssertTrue(y.allSatisfy(\.isFinite))
        // Antialias taps growing past the kernel's bound are refused at load, by name.
        XCTAssertThrowsError(try SegcModel(plan: plan(mode: 2, coord: 0, scale: 1e-6, antialias: 1))) { e in
            XCTAssertTrue("\(e)".contains("resize scales"), "\(e)")
        }
    }
}
