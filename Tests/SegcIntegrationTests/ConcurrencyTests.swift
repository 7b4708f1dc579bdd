import Foundation
import Synchronization
import XCTest
import SegcCore
import SegcRuntime

/// Issue 8: one `SegcModel` (immutable, `Sendable`) shared by several threads, each
/// with its own `SegcSession`, gives bit-identical logits on every thread and run.
final class ConcurrencyTests: XCTestCase {
    func testOneModelManyThreadsIdenticalResults() throws {
        let e = try XCTUnwrap(Shared.manifest().first { $0.name == "enet_void" })
        let c = try compile(e, height: 128, width: 256)
        let input = try Npy.read(contentsOf: try Shared.path(e.input)).floats
        let expected = try SegcSession(model: c.model, threads: 1).run(input)
        let model = c.model
        let threads = 4, runs = 3
        let results = Mutex([[Float]]())
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            do {
                let session = try SegcSession(model: model, threads: 1 + t % 2)
                for _ in 0..<runs {
                    let out = try session.run(input)
                    results.withLock { $0.append(out) }
                }
            } catch {
                results.withLock { $0.append([]) }
            }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, threads * runs)
        for r in all { XCTAssertTrue(r == expected, "a concurrent run differs from the single-threaded one") }
    }
}
