import Foundation
import SegcCore
import XCTest

final class NpyTests: XCTestCase {
    func decode(_ bytes: [UInt8]) throws -> Npy.Array {
        try bytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) throws -> Npy.Array in try Npy.decode(b, name: "t.npy") }
    }

    /// Builds a file with a v1 (or v2/v3) header containing `dict` verbatim.
    func file(_ dict: String, data: [UInt8] = [], major: UInt8 = 1) -> [UInt8] {
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        let h = Array(dict.utf8)
        if major == 1 {
            out += [UInt8(h.count & 0xFF), UInt8(h.count >> 8)]
        } else {
            out += [UInt8(h.count & 0xFF), UInt8((h.count >> 8) & 0xFF), UInt8((h.count >> 16) & 0xFF), 0]
        }
        return out + h + data
    }

    var sharedRoot: String {
        if let s = ProcessInfo.processInfo.environment["SEGC_SHARED"] { return s }
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/../shared"
    }

    func testRoundTripFloat32() throws {
        let values: [Float] = [0, -1.5, .infinity, 3.25e-8, 1e30, -0.0]
        let bytes = try Npy.encode(values, shape: [2, 3])
        XCTAssertEqual((bytes.count - 24) % 64, 0)
        XCTAssertEqual(bytes.count - values.count * 4, 128, "header padded to a multiple of 64 bytes")
        let a = try decode(bytes)
        XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.floats.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertNil(a.int64s)
    }

    func testRoundTripUInt8AndInt64() throws {
        let u: [UInt8] = [0, 1, 255, 7]
        let a = try decode(try Npy.encode(u, shape: [4]))
        XCTAssertEqual(a.dtype, .uint8); XCTAssertEqual(a.shape, [4]); XCTAssertEqual(a.int64s, [0, 1, 255, 7])
        let i: [Int64] = [.min, -1, 0, .max, 42, 9]
        let b = try decode(try Npy.encode(i, shape: [3, 1, 2]))
        XCTAssertEqual(b.dtype, .int64); XCTAssertEqual(b.shape, [3, 1, 2]); XCTAssertEqual(b.int64s, i)
        let s = try decode(try Npy.encode([Float(7)], shape: []))
        XCTAssertEqual(s.shape, []); XCTAssertEqual(s.floats, [7])
        XCTAssertThrowsError(try Npy.encode([Float(1), 2], shape: [3]))
    }

    func testWriteAndReadFile() throws {
        let dir = NSTemporaryDirectory() + "npytest-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.npy"
        try Npy.write([Float(1), 2, 3, 4], shape: [2, 2], to: path)
        let a = try Npy.read(contentsOf: path)
        XCTAssertEqual(a.floats, [1, 2, 3, 4])
        try Npy.write([UInt8(9)], shape: [1, 1], to: path)
        XCTAssertEqual(try Npy.read(contentsOf: path).int64s, [9])
        try Npy.write([Int64(-5)], shape: [1], to: path)
        XCTAssertEqual(try Npy.read(contentsOf: path).int64s, [-5])
        XCTAssertThrowsError(try Npy.read(contentsOf: dir + "/missing.npy")) { e in
            XCTAssertEqual((e as? SegcError)?.file, dir + "/missing.npy")
        }
    }

    func testHeaderMatchesNumpy() throws {
        let path = sharedRoot + "/inputs/city1_128x256.npy"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("shared inputs absent") }
        let raw = try FileBytes(contentsOf: path).toArray()
        XCTAssertEqual(Array(raw.prefix(128)), Npy.header(dtype: .float32, shape: [1, 3, 128, 256]))
    }

    func testReadsSharedInput() throws {
        let path = sharedRoot + "/inputs/city1_128x256.npy"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("shared inputs absent") }
        let a = try Npy.read(contentsOf: path)
        XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(a.shape, [1, 3, 128, 256])
        let f = a.floats
        XCTAssertEqual(f.count, 3 * 128 * 256)
        XCTAssertEqual(f.min(), 0); XCTAssertEqual(f.max(), 1)
        XCTAssertEqual(f[0], 0.43137255, accuracy: 1e-7)
        let meanR = f[0..<(128 * 256)].reduce(0.0) { $0 + Double($1) } / Double(128 * 256)
        XCTAssertEqual(meanR, 0.3508, accuracy: 1e-4)
        let ids = sharedRoot + "/inputs/city1_128x256_trainids.npy"
        if FileManager.default.fileExists(atPath: ids) {
            let t = try Npy.read(contentsOf: ids)
            XCTAssertEqual(t.dtype, .uint8); XCTAssertEqual(t.shape, [128, 256])
            XCTAssertEqual(t.int64s?.first, 255)
        }
    }

    func testOtherDtypesAndVersions() throws {
        let f8 = file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n",
                      data: withUnsafeBytes(of: 1.5) { Array($0) } + withUnsafeBytes(of: -2.0) { Array($0) })
        XCTAssertEqual(try decode(f8).floats, [1.5, -2])
        let i4 = file("{\"shape\": (1, 2), \"descr\": \"<i4\", \"fortran_order\": False}", data: [0xFF, 0xFF, 0xFF, 0xFF, 3, 0, 0, 0], major: 2)
        XCTAssertEqual(try decode(i4).int64s, [-1, 3])
        XCTAssertEqual(try decode(i4).shape, [1, 2])
        let i1 = file("{'descr': '|i1', 'fortran_order': False, 'shape': (3L,), }", data: [0x80, 0x7F, 0], major: 3)
        XCTAssertEqual(try decode(i1).int64s, [-128, 127, 0])
        let b1 = file("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", data: [1, 0])
        XCTAssertEqual(try decode(b1).int64s, [1, 0])
        let empty = file("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }")
        XCTAssertEqual(try decode(empty).shape, [0, 3])
    }

    func testMalformedRefused() {
        let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
        let one: [UInt8] = [0, 0, 128, 63]
        XCTAssertNoThrow(try decode(file(good, data: one)))
        let cases: [(String, [UInt8], SegcError.Kind)] = [
            ("bad magic", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x58, 1, 0, 0, 0], .malformed),
            ("empty", [], .malformed),
            ("truncated header length", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 5], .malformed),
            ("version 4", file(good, data: one, major: 4), .unsupported),
            ("header longer than the file", Array(file(good, data: one).prefix(30)), .malformed),
            ("fortran order", file("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", data: one), .unsupported),
            ("big endian", file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: one), .unsupported),
            ("object dtype", file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", data: one), .unsupported),
            ("structured dtype", file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: one), .malformed),
            ("missing shape", file("{'descr': '<f4', 'fortran_order': False}", data: one), .malformed),
            ("duplicate key", file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", data: one), .malformed),
            ("unknown key", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data: one), .malformed),
            ("negative dim", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", data: one), .malformed),
            ("nested shape", file("{'descr': '<f4', 'fortran_order': False, 'shape': ((1,),), }", data: one), .malformed),
            ("float dim", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,), }", data: one), .malformed),
            ("huge dim", file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", data: one), .limit),
            ("overflowing count", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", data: one), .malformed),
            ("too many elements", file("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 2), }", data: one), .limit),
            ("rank 9", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", data: one), .limit),
            ("data short", file(good, data: [0, 0]), .malformed),
            ("data long", file(good, data: one + one), .malformed),
            ("unterminated", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", data: one), .malformed),
            ("trailing garbage", file(good + " x", data: one), .malformed),
            ("not a dict", file("[1, 2]", data: one), .malformed),
            ("bad fortran value", file("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", data: one), .malformed),
            ("bool byte 2", file("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", data: [2]), .malformed),
            ("invalid utf8 v3", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: one, major: 3)
                .enumerated().map { $0.offset == 12 ? 0xFF : $0.element }, .malformed),
        ]
        for (what, bytes, kind) in cases {
            XCTAssertThrowsError(try decode(bytes), what) { e in
                guard let e = e as? SegcError else { return XCTFail("\(what): not a SegcError") }
                XCTAssertEqual(e.kind, kind, "\(what): \(e)")
                XCTAssertEqual(e.file, "t.npy", "\(what): \(e)")
            }
        }
        // Header above the 64 KiB limit (v2 length field).
        var big = file(good, data: one, major: 2)
        big[8] = 0; big[9] = 0; big[10] = 2  // 128 KiB
        XCTAssertThrowsError(try decode(big)) { e in XCTAssertEqual((e as? SegcError)?.kind, .limit) }
    }

    func testRandomCorruptionNeverCrashes() throws {
        let base = try Npy.encode([Float](repeating: 1, count: 6), shape: [2, 3])
        var state: UInt64 = 12345
        for _ in 0..<3000 {
            var b = base
            for _ in 0..<3 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let pos = Int(state >> 33) % 80
                b[pos] = UInt8(truncatingIfNeeded: state >> 20)
            }
            if state % 7 == 0 { b.removeLast(Int(state >> 40) % b.count) }
            _ = try? decode(b)
        }
    }
}
