import XCTest
import SegcCompiler
import SegcRuntime
import SegcCore

/// The public compile API: stages, in-memory conversion, per-channel preprocessing checks.
final class SegcCompilerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("Fixtures/demo/midenet_distilled.pth").path

    func testStagesMatchOneShotConvertAndRun() throws {
        var imported = try SegcCompiler.importModel(contentsOf: Self.model, options: .init(inputSize: (64, 128)))
        XCTAssertEqual(imported.architecture, "midenet")
        XCTAssertEqual(imported.inputShape, [1, 3, 64, 128])
        let before = imported.nodeCount
        try imported.optimise()
        XCTAssertLessThan(imported.nodeCount, before, "optimise folded nothing")
        let staged = try imported.lower()
        let oneShot = try SegcCompiler.convert(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.model))),
                                               name: "midenet_distilled.pth", options: .init(inputSize: (64, 128)))
        XCTAssertEqual(staged.bytes, oneShot.bytes, "staged and one-shot conversion differ")
        let session = try SegcSession(model: try SegcModel(bytes: staged.bytes), threads: 1)
        let out = try session.run([Float](repeating: 0.5, count: 3 * 64 * 128))
        XCTAssertEqual(out.count, staged.outputShape.reduce(1, *))
    }

    func testMeanStdCountMustMatchChannels() throws {
        let imported = try SegcCompiler.importModel(contentsOf: Self.model, options: .init(inputSize: (32, 64)))
        XCTAssertThrowsError(try imported.lower(mean: [0.5], std: [0.2])) { e in
            XCTAssertTrue("\(e)".contains("1 values but the model's input has 3 channels"), "\(e)")
        }
        XCTAssertNoThrow(try imported.lower(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
    }

    func testBadBytesAreAnError() {
        XCTAssertThrowsError(try SegcCompiler.convert(bytes: [1, 2, 3], name: "junk.bin")) { e in
            XCTAssertTrue("\(e)".contains("junk.bin"), "\(e)")
        }
    }
}
