import Foundation
import SegcCore
import XCTest
import SegcEval

private struct Expectations: Decodable {
    struct Crop: Decodable { let row: Int; let col: Int; let hex: String }
    struct Entry: Decodable {
        let path: String
        let mode: String
        let width: Int
        let height: Int
        let rgb_sha256: String
        let bilinear_sha256: String
        let nearest_sha256: String?
        let crops: [Crop]
    }
    let size: [Int]
    let images: [Entry]
}

final class PillowParityTests: XCTestCase {
    /// Every image under shared/data: decode + convert('RGB') + BILINEAR 1024x512 against Pillow,
    /// plus NEAREST for masks. Acceptance: within 1 grey level everywhere (crops measured).
    func testEveryDataImageMatchesPillow() throws {
        let url = URL(fileURLWithPath: TestPaths.fixtures + "/pillow_expectations.json")
        let exp = try JSONDecoder().decode(Expectations.self, from: Data(contentsOf: url))
        guard FileManager.default.fileExists(atPath: TestPaths.data) else { throw XCTSkip("no shared data") }
        let (w, h) = (exp.size[0], exp.size[1])
        var decodeExact = 0, bilinearExact = 0, nearestExact = 0, nearestTotal = 0, maxCropDiff = 0
        var mismatches: [String] = []
        for e in exp.images {
            let path = TestPaths.data + "/" + e.path
            let img = try Image.decode(contentsOf: path)
            XCTAssertEqual(img.width, e.width, e.path)
            XCTAssertEqual(img.height, e.height, e.path)
            let rgb = img.convertedToRGB()
            if SHA256.hex(rgb.pixels) == e.rgb_sha256 { decodeExact += 1 } else { mismatches.append("decode \(e.path)") }
            let r = try rgb.resized(width: w, height: h, filter: .bilinear)
            if SHA256.hex(r.pixels) == e.bilinear_sha256 { bilinearExact += 1 } else { mismatches.append("bilinear \(e.path)") }
            for c in e.crops {
                let want = hexBytes(c.hex)
                var i = 0
                for y in c.row..<(c.row + 8) {
                    for x in c.col..<(c.col + 8) {
                        for ch in 0..<3 {
                            let d = abs(Int(r.pixels[(y * w + x) * 3 + ch]) - Int(want[i]))
                            maxCropDiff = max(maxCropDiff, d)
                            i += 1
                        }
                    }
                }
            }
            if let ns = e.nearest_sha256 {
                nearestTotal += 1
                let mask = try LabelMask.decode(contentsOf: path).resizedNearest(width: w, height: h)
                if SHA256.hex(mask.values) == ns { nearestExact += 1 } else { mismatches.append("nearest \(e.path)") }
            }
        }
        print("Pillow parity: \(exp.images.count) images; decode bit-exact \(decodeExact), bilinear bit-exact \(bilinearExact), nearest bit-exact \(nearestExact)/\(nearestTotal), max crop diff \(maxCropDiff)")
        if !mismatches.isEmpty { print("mismatches: \(mismatches.joined(separator: ", "))") }
        XCTAssertLessThanOrEqual(maxCropDiff, 1)
        XCTAssertEqual(bilinearExact, exp.images.count)
        XCTAssertEqual(nearestExact, nearestTotal)
    }
}
