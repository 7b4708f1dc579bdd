import Foundation
import XCTest

/// Replays the regression inputs of `Tests/Fuzz/<target>/` through the fuzz
/// executables built normally (each one replays the files it is given through
/// its `LLVMFuzzerTestOneInput` and exits 0 when nothing crashed). A reader that
/// crashes, or a binary that ends by a signal, fails the test. See scripts/fuzz.sh.
final class FuzzRegressionTests: XCTestCase {
    static let fuzzRoot = CLI.packageRoot.appendingPathComponent("Tests/Fuzz")

    private func replay(_ target: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = Self.fuzzRoot.appendingPathComponent(target)
        let inputs = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { !$0.hasPrefix(".") }
        if inputs.isEmpty { throw XCTSkip("Tests/Fuzz/\(target) has no regression inputs") }
        // The test bundle sits next to the products: .build/<config>/FuzzX
        let binary = Bundle.main.bundleURL.appendingPathComponent(target)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("\(target) is not built next to the test bundle (\(binary.path)); run swift build first")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = [folder.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: e, as: UTF8.self)
        XCTAssertEqual(p.terminationReason, .exit, "\(target) ended by signal \(p.terminationStatus); last lines: \(stderr.suffix(600))",
                       file: file, line: line)
        XCTAssertEqual(p.terminationStatus, 0, "\(target) exit \(p.terminationStatus); stderr: \(stderr.suffix(600))",
                       file: file, line: line)
        XCTAssertTrue(String(decoding: o, as: UTF8.self).contains("replayed \(inputs.count) file(s)"),
                      "\(target) did not replay every input; stderr: \(stderr.suffix(600))", file: file, line: line)
    }

    func testFuzzPickleRegressions() throws { try replay("FuzzPickle") }
    func testFuzzTorchRegressions() throws { try replay("FuzzTorch") }
    func testFuzzONNXRegressions() throws { try replay("FuzzONNX") }
    func testFuzzPlanRegressions() throws { try replay("FuzzPlan") }
}
