import Foundation
import SegcCore
import SegcPlan
import SegcRuntime
import XCTest

/// Sessions prepare conv weights once (`PreparedConvWeights`) and, for a plan mapped from
/// a file, release the original weight pages. Checked here: a file-mapped plan gives the
/// bits of the same plan read from memory at every level, sessions made one after another
/// at different levels (each preparing from pages released by the one before), and one
/// session across level changes (it re-prepares) equal a fresh session at that level.
final class PreparedWeightsTests: XCTestCase {
    override func tearDown() { try? KernelLevel.force(KernelLevel.best) }

    func testFileMappedPlanAndLevelChanges() throws {
        for e in try Shared.manifest() where e.name == "erfnet" || e.name == "bisenet" {
            // BiSeNetV1 at full size: its 16x32 stage takes the F(2x2) path.
            let (h, w) = e.name == "bisenet" ? (512, 1024) : (128, 256)
            let c = try compile(e, height: h, width: w)
            let path = NSTemporaryDirectory() + "prepared-\(e.name)-\(getpid()).segc"
            FileManager.default.createFile(atPath: path, contents: Data(try PlanWriter.serialize(c.plan)))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let mapped = try SegcModel(contentsOf: path)
            let input = (0..<(3 * h * w)).map { Float(sin(Double($0) * 0.0137)) }
            var byLevel: [KernelLevel: [Float]] = [:]
            for level in KernelLevel.available {
                try KernelLevel.force(level)
                let fromMemory = try SegcSession(model: c.model, threads: 2).run(input)
                let fromFile = try SegcSession(model: mapped, threads: 2).run(input)
                XCTAssertEqual(fromFile.map(\.bitPattern), fromMemory.map(\.bitPattern), "\(e.name) \(level): mapped plan differs")
                byLevel[level] = fromMemory
            }
            // One session, the level changed under it.
            try KernelLevel.force(KernelLevel.best)
            let s = try SegcSession(model: mapped, threads: 2)
            for level in KernelLevel.available.reversed() + [KernelLevel.best] {
                try KernelLevel.force(level)
                let out = try s.run(input)
                XCTAssertEqual(out.map(\.bitPattern), byLevel[level]!.map(\.bitPattern), "\(e.name): session after a switch to \(level)")
            }
        }
    }
}
