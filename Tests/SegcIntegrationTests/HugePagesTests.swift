import Foundation
import SegcRuntime
import XCTest

/// `SegcSession(hugePages:)`: the same bits either way. (Whether the pages are huge is
/// checked in a fresh process, `BenchHugePagesTests`: in this one glibc may hand a 4 KiB
/// session memory that an earlier session advised.)
final class HugePagesTests: XCTestCase {
    func anonHugeKiB() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("AnonHugePages:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    func testHugePagesChangeMemoryNotResults() throws {
        guard let e = try Shared.manifest().first(where: { $0.name == "enet" }) else { throw XCTSkip("no enet in the manifest") }
        let (h, w) = (256, 512)
        let c = try compile(e, height: h, width: w)
        let input = (0..<(3 * h * w)).map { Float(cos(Double($0) * 0.0071)) }
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        var outputs: [Bool: [UInt32]] = [:]
        for huge in [false, true] {
            let before = anonHugeKiB()
            let s = try SegcSession(model: c.model, threads: 2, hugePages: huge)
            outputs[huge] = try s.run(input).map(\.bitPattern)
            let added = anonHugeKiB() - before
            print("[hugepages] enet \(h)x\(w) hugePages \(huge): AnonHugePages +\(added) KiB (THP: \(mode.trimmingCharacters(in: .whitespacesAndNewlines)))")
        }
        XCTAssertEqual(outputs[true], outputs[false], "huge pages changed the output")
    }
}
