import Foundation
import XCTest
import SegcCore

/// Locates `../shared` (or `$SEGC_SHARED`) and the repository root.
enum Shared {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var root: URL? {
        if let env = ProcessInfo.processInfo.environment["SEGC_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let u = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: u.appendingPathComponent("models").path) ? u : nil
    }

    static func require() throws -> URL {
        guard let r = root else { throw XCTSkip("../shared not found (set SEGC_SHARED): skipping tests on real models") }
        return r
    }

    struct ManifestEntry {
        var name: String, arch: String, checkpoint: String, input: String, output: String, maxAbs: Double, classes: Int
    }

    static func manifest() throws -> [ManifestEntry] {
        let r = try require()
        let data = try Data(contentsOf: r.appendingPathComponent("reference/manifest.json"))
        let arr = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        return arr.map {
            ManifestEntry(name: $0["name"] as! String, arch: $0["arch"] as! String, checkpoint: $0["checkpoint"] as! String,
                          input: $0["input"] as! String, output: $0["output"] as! String,
                          maxAbs: ($0["max_abs"] as! NSNumber).doubleValue, classes: ($0["classes"] as! NSNumber).intValue)
        }
    }

    static func path(_ rel: String) throws -> String { try require().appendingPathComponent(rel).path }
}

/// max |a − b| and the index where it occurs.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> (Float, Int) {
    precondition(a.count == b.count)
    var m: Float = 0, at = 0
    for i in a.indices {
        let d = abs(a[i] - b[i])
        if d > m || d.isNaN { m = d; at = i }
    }
    return (m, at)
}

/// Fraction of pixels whose argmax over classes agrees (logits [1,C,H,W] vs uint8 [H,W]).
func argmax(_ logits: [Float], classes: Int) -> [UInt8] {
    let hw = logits.count / classes
    var out = [UInt8](repeating: 0, count: hw)
    logits.withUnsafeBufferPointer { p in
        for i in 0..<hw {
            var best = p[i], bi = 0
            for c in 1..<classes where p[c * hw + i] > best { best = p[c * hw + i]; bi = c }
            out[i] = UInt8(bi)
        }
    }
    return out
}
