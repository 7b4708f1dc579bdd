import CSegcKernels
import XCTest

/// Deterministic generator (SplitMix64) so failures reproduce.
struct Rng {
    var s: UInt64
    init(_ seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
    /// Few distinct values: ties.
    mutating func levels(_ n: Int, _ k: Int) -> [Float] { (0..<n).map { _ in Float(int(0...(k - 1))) } }
}

/// A pool plus a workspace big enough for the tests.
final class KernelEnv {
    let pool: OpaquePointer
    let threads: Int
    let scratch: UnsafeMutablePointer<Float>
    var ws: segc_ws
    static let perThread = 1 << 21
    static let shared = 1 << 20   // the Winograd path's U: 36 transformed weight matrices (128x128: 645k floats)

    init(threads: Int) {
        self.threads = threads
        pool = segc_pool_create(Int32(threads))!
        let n = Self.perThread * threads + Self.shared
        scratch = .allocate(capacity: n)
        scratch.initialize(repeating: 0, count: n)
        ws = segc_ws(base: scratch, per_thread: Int64(Self.perThread), threads: Int32(threads),
                     shared: scratch + Self.perThread * threads, shared_count: Int64(Self.shared))
    }

    deinit {
        segc_pool_destroy(pool)
        scratch.deallocate()
    }
}

func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-4, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    var worst: Float = 0, at = -1
    for i in 0..<min(a.count, b.count) {
        let d = abs(a[i] - b[i]) / max(1, abs(b[i]))
        if !(d <= worst) { worst = d; at = i }
    }
    XCTAssert(worst <= tol, "\(what): max rel error \(worst) at \(at) (\(at >= 0 ? a[at] : 0) vs \(at >= 0 ? b[at] : 0))",
              file: file, line: line)
}
