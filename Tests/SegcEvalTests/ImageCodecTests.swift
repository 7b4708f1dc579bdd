import Foundation
import SegcCore
import SegcEval
import XCTest

final class ImageCodecTests: XCTestCase {
    private func sample(_ rel: String) throws -> [UInt8] {
        let p = TestPaths.data + "/" + rel
        guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("no shared data") }
        return try FileBytes(contentsOf: p).toArray()
    }

    private func decode(_ bytes: [UInt8]) throws(SegcError) -> Image {
        let file = FileBytes(bytes: bytes, name: "x")
        return try Image.decode(bytes: file.buffer, name: "x")
    }

    private func assertRefused(_ bytes: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try decode(bytes)
            XCTFail("\(what): decoded", file: file, line: line)
        } catch {
            XCTAssertEqual(error.file, "x", file: file, line: line)
        }
    }

    func testSniffingIgnoresExtension() throws {
        // RoadAnomaly21's .png files hold JPEG bytes.
        let bytes = try sample("RoadAnomaly21/images/0.png")
        XCTAssertEqual(bytes.withUnsafeBytes { Image.sniff($0) }, .jpeg)
        let img = try decode(bytes)
        XCTAssertEqual([img.width, img.height, img.channels], [1280, 720, 3])
    }

    func testTruncatedAndRandomInputsAreErrors() throws {
        let files = ["FS_LostFound_full/images/0.png", "fs_static/images/0.jpg", "RoadObsticle21/images/0.webp",
                     "fs_static/labels_masks/0.png"]
        for f in files {
            let bytes = try sample(f)
            for cut in [8, 20, 33, 100, 1000, bytes.count / 2, bytes.count - 200] where cut < bytes.count {
                assertRefused(Array(bytes.prefix(cut)), "\(f) cut at \(cut)")
            }
            // Corrupt the middle: must either decode or fail cleanly (never crash).
            var corrupt = bytes
            for i in stride(from: bytes.count / 3, to: min(bytes.count, bytes.count / 3 + 4000), by: 7) { corrupt[i] ^= 0x5A }
            _ = try? decode(corrupt)
        }
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 3, 12, 100, 5000] {
            assertRefused((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }, "random \(n)")
        }
        // Valid signatures followed by garbage.
        assertRefused([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array(repeating: 0xAB, count: 64), "png garbage")
        assertRefused([0xFF, 0xD8, 0xFF] + Array(repeating: 0x11, count: 64), "jpeg garbage")
        assertRefused(Array("RIFF\u{10}\0\0\0WEBPVP8 ".utf8) + Array(repeating: 0, count: 16), "webp garbage")
    }

    func testOversizedPNGHeaderIsALimitErrorBeforeAllocation() throws {
        // A PNG whose IHDR claims 16385 x 1 (valid CRC) and no data.
        var ihdr: [UInt8] = Array("IHDR".utf8)
        ihdr += [0, 0, 0x40, 0x01, 0, 0, 0, 1, 8, 2, 0, 0, 0]
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + ihdr + crc32(ihdr)
        do {
            _ = try decode(png)
            XCTFail("decoded")
        } catch {
            XCTAssertEqual(error.kind, .limit, "\(error)")
        }
    }

    func testConversionsAndResize() throws {
        let grey = try Image(width: 2, height: 1, channels: 1, pixels: [10, 200])
        XCTAssertEqual(grey.convertedToRGB().pixels, [10, 10, 10, 200, 200, 200])
        let pal = try Image(width: 2, height: 1, channels: 1, pixels: [1, 0], palette: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(pal.convertedToRGB().pixels, [4, 5, 6, 1, 2, 3])
        let rgba = try Image(width: 1, height: 1, channels: 4, pixels: [7, 8, 9, 0])
        XCTAssertEqual(rgba.convertedToRGB().pixels, [7, 8, 9])
        let chw = try Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 51, 0, 255, 102]).chwFloats()
        XCTAssertEqual(chw, [1, 0, 0, 1, Float(51) / 255, Float(102) / 255])
        XCTAssertThrowsError(try pal.resized(width: 1, height: 1, filter: .bilinear))
        XCTAssertEqual(try pal.resized(width: 4, height: 1, filter: .nearest).pixels, [1, 1, 0, 0])
    }

    func testPNGRoundTrip() throws {
        let dir = NSTemporaryDirectory() + "segc-eval-png-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rgb = try Image(width: 3, height: 2, channels: 3, pixels: (0..<18).map { UInt8($0 * 13) })
        try PNGWriter.write(rgb, to: dir + "/rgb.png")
        XCTAssertEqual(try Image.decode(contentsOf: dir + "/rgb.png"), rgb)
        let pal = try Image(width: 2, height: 2, channels: 1, pixels: [0, 1, 1, 0], palette: [9, 8, 7, 1, 2, 3])
        try PNGWriter.write(pal, to: dir + "/pal.png")
        XCTAssertEqual(try Image.decode(contentsOf: dir + "/pal.png"), pal)
        XCTAssertEqual(try LabelMask.decode(contentsOf: dir + "/pal.png").values, [0, 1, 1, 0])
    }
}

private func crc32(_ bytes: [UInt8]) -> [UInt8] {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
    }
    c ^= 0xFFFF_FFFF
    return [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
}
