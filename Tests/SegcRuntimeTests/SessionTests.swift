import CSegcKernels
import SegcRuntime
import SegcCore
import SegcPlan
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SessionTests: XCTestCase {
    func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Small ERFNet: runs, gives identical logits for 1, 2 and 3 threads, and the
    /// observer sees every op.
    func testERFNetSmallThreadsBitIdentical() throws {
        let plan = PlanBuilder.erfnet(height: 64, width: 128)
        let model = try SegcModel(plan: plan)
        XCTAssertEqual(model.inputShape, [1, 3, 64, 128])
        XCTAssertEqual(model.outputShape, [1, 20, 64, 128])
        XCTAssertEqual(model.classes, 20)
        var r = Rng(3)
        let input = (0..<(3 * 64 * 128)).map { _ in (r.float() + 1) / 2 }
        var outs: [[Float]] = []
        for t in [1, 2, 3] {
            let s = try SegcSession(model: model, threads: t)
            outs.append(try s.run(input))
            XCTAssertEqual(try s.run(input), outs.last!, "second run differs (threads \(t))")
        }
        XCTAssertEqual(outs[0], outs[1])
        XCTAssertEqual(outs[0], outs[2])
        XCTAssert(outs[0].allSatisfy { $0.isFinite })
        let s = try SegcSession(model: model, threads: 2)
        var seen: [Int] = []
        s.observer = { i, buf in seen.append(i); XCTAssertGreaterThan(buf.count, 0) }
        _ = try s.run(input)
        XCTAssertEqual(seen, Array(0..<plan.graph.ops.count))
    }

    /// Steady-state runs allocate nothing. Method: glibc `mallinfo2()` before and after
    /// five runs (after a warm-up run) — `uordblks` (bytes in use from the heap) and
    /// `hblkhd` (bytes in mmap'd blocks) must be unchanged, and so must the count of
    /// mmap'd blocks `hblks`. OpenBLAS's own buffers come from its pre-allocated pool,
    /// not from malloc.
    func testSteadyStateAllocatesNothing() throws {
        let model = try SegcModel(plan: PlanBuilder.erfnet(height: 32, width: 64))
        let session = try SegcSession(model: model, threads: 2)
        let input = [Float](repeating: 0.5, count: 3 * 32 * 64)
        try input.withUnsafeBufferPointer { buf in
            _ = try session.run(buf)
            var before = [UInt64](repeating: 0, count: 3), after = before
            segc_heap_stats(&before)
            for _ in 0..<5 { _ = try session.run(buf) }
            segc_heap_stats(&after)
            XCTAssertEqual(before[0], after[0], "heap bytes in use changed")
            XCTAssertEqual(before[1], after[1], "mmap'd bytes changed")
            XCTAssertEqual(before[2], after[2], "mmap'd blocks changed")
        }
    }

    func testRejectsBadPlans() throws {
        var plan = PlanBuilder.erfnet(height: 32, width: 64)
        plan.graph.ops[0].ints[0] = 5   // kernel no longer matches the weight
        XCTAssertThrowsError(try SegcModel(plan: plan))
        plan = PlanBuilder.erfnet(height: 32, width: 64)
        plan.graph.values[3].arenaOffset = plan.graph.arenaBytes
        XCTAssertThrowsError(try SegcModel(plan: plan))
        plan = PlanBuilder.erfnet(height: 32, width: 64)
        plan.graph.ops[0].weights = []
        XCTAssertThrowsError(try SegcModel(plan: plan))
        let model = try SegcModel(plan: PlanBuilder.erfnet(height: 32, width: 64))
        let s = try SegcSession(model: model, threads: 1)
        XCTAssertThrowsError(try s.run([Float](repeating: 0, count: 5)))
    }

    /// Timing (printed, not asserted): full ERFNet at 512x1024 with 2 threads.
    func testERFNetTiming() throws {
        let plan = PlanBuilder.erfnet(height: 512, width: 1024)
        let model = try SegcModel(plan: plan)
        let session = try SegcSession(model: model, threads: 2)
        let input = [Float](repeating: 0.25, count: 3 * 512 * 1024)
        var times: [Double] = []
        try input.withUnsafeBufferPointer { buf in
            _ = try session.run(buf)
            for _ in 0..<5 {
                let t0 = now()
                _ = try session.run(buf)
                times.append(now() - t0)
            }
        }
        times.sort()
        print(String(format: "ERFNet 512x1024, 2 threads (%@): median %.1f ms, min %.1f ms, %.0f GFLOP/s",
                     SegcModel.cpuLevel, times[2] * 1e3, times[0] * 1e3, 2 * 26.6 / times[2]))
        // Per-op profile with the observer (times between consecutive ops).
        var last = now()
        var perKind: [String: Double] = [:]
        session.observer = { i, _ in
            let t = self.now()
            perKind[plan.graph.ops[i].kind.name + (plan.graph.ops[i].kind == .conv2d ? "\(plan.graph.ops[i].ints[0])x\(plan.graph.ops[i].ints[1])" : ""), default: 0] += t - last
            last = t
        }
        last = now()
        _ = try session.run(input)
        for (k, v) in perKind.sorted(by: { $0.value > $1.value }) { print(String(format: "  %-20@ %7.1f ms", k, v * 1e3)) }
    }
}
